// Command chat is an application backend that keeps Herald in the loop
// through its hooks (docs/protocol.md section 11): a cookie login, a chat
// page using herald.js, the connect hook that tells Herald who a
// connection's cookie belongs to, the subscribe hook that says who may
// join which room, and a webhook receiver that checks each batch's
// signature and logs the events. It uses the standard library only.
//
// Run it beside a node (see README.md):
//
//	go run ./examples/chat
package main

import (
	"cmp"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	app := newApp(config{
		HeraldURL: cmp.Or(os.Getenv("CHAT_HERALD_URL"), "http://localhost:8080"),
		Secret:    []byte(cmp.Or(os.Getenv("CHAT_HOOK_SECRET"), "dev-secret")),
		Log:       log.New(os.Stderr, "chat: ", log.LstdFlags),
	})
	addr := cmp.Or(os.Getenv("CHAT_ADDR"), "localhost:3000")
	app.cfg.Log.Printf("open http://%s (Herald at %s)", addr, app.cfg.HeraldURL)
	srv := &http.Server{Addr: addr, Handler: app, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
