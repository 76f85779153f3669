package redis

import (
	"reflect"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want endpoint
	}{
		{"redis+sentinel://h1:26379,h2:26380/herald", endpoint{mode: sentinel, addrs: []string{"h1:26379", "h2:26380"}, master: "herald"}},
		{"redis+sentinel://:s%40cret@h1:26379/herald/3", endpoint{mode: sentinel, addrs: []string{"h1:26379"}, master: "herald", db: 3, password: "s@cret"}},
		{"rediss+sentinel://app:pw@h1:26379/m/", endpoint{mode: sentinel, addrs: []string{"h1:26379"}, master: "m", username: "app", password: "pw", tls: true}},
		{"redis+sentinel://:pw@h1:26379/m?sentinel_password=sp&sentinel_username=su", endpoint{mode: sentinel, addrs: []string{"h1:26379"}, master: "m", password: "pw", sentinelUser: "su", sentinelPassword: "sp"}},
		{"redis+cluster://h1:7000,h2:7001,[::1]:7002", endpoint{mode: cluster, addrs: []string{"h1:7000", "h2:7001", "[::1]:7002"}}},
		{"redis+cluster://:pw@h1:7000/", endpoint{mode: cluster, addrs: []string{"h1:7000"}, password: "pw"}},
		{"rediss+cluster://user:pw@h1:7000", endpoint{mode: cluster, addrs: []string{"h1:7000"}, username: "user", password: "pw", tls: true}},
	} {
		got, err := parseEndpoint(tc.url)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
}

func TestParseURLRejects(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://h:1", "scheme"},
		{"redis+sentinel://h1:26379", "master name"},
		{"redis+sentinel://h1:26379/", "master name"},
		{"redis+sentinel://h1:26379/m/x", "database"},
		{"redis+sentinel://h1/m", "host:port"},
		{"redis+sentinel://h1:26379,/m", "host:port"},
		{"redis+sentinel://h1:99999/m", "port"},
		{"redis+sentinel://h1:1/m?tls=true", "unknown option"},
		{"redis+cluster://h1:7000/0", "no database"},
		{"redis+cluster://", "host:port"},
		{"redis+cluster://h1:7000?sentinel_password=x", "unknown option"},
		{"redis+cluster://:%zz@h1:7000", "password"},
		{"redis://h:1/x", "database"},
	} {
		if _, err := parseURL(tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseURL(%q) = %v, want an error saying %q", tc.url, err, tc.want)
		}
	}
}

func TestParseURLModes(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want mode
		tls  bool
	}{
		{"redis://h:6379/0", standalone, false},
		{"rediss://:pw@h:6379", standalone, true},
		{"redis+sentinel://h:26379/m", sentinel, false},
		{"rediss+sentinel://h:26379/m", sentinel, true},
		{"redis+cluster://h:7000", cluster, false},
		{"rediss+cluster://h:7000", cluster, true},
	} {
		u, err := parseURL(tc.url)
		if err != nil {
			t.Fatalf("parseURL(%q): %v", tc.url, err)
		}
		var tls bool
		switch u.mode {
		case standalone:
			tls = u.single.TLSConfig != nil
		case sentinel:
			tls = u.failover.TLSConfig != nil
		case cluster:
			tls = u.cluster.TLSConfig != nil
		}
		if u.mode != tc.want || tls != tc.tls {
			t.Errorf("parseURL(%q): mode %d TLS %v, want %d %v", tc.url, u.mode, tls, tc.want, tc.tls)
		}
	}
}

// TestNewClientsPerMode pins the client each mode gets, that the
// no-retry twin is built the same way with no retry of its own (go-redis
// keeps a -1, meaning none, as -1 or 0), and that off Cluster webhook
// reports get a client with a pool of their own.
func TestNewClientsPerMode(t *testing.T) {
	for _, tc := range []struct {
		url     string
		cluster bool
	}{
		{"redis://127.0.0.1:1/0", false},
		{"redis+sentinel://127.0.0.1:1/m", false},
		{"redis+cluster://127.0.0.1:1", true},
	} {
		u, err := parseURL(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		rdb, once, pubsub, reports := newClients(u, time.Second, nil, nil)
		switch r := rdb.(type) {
		case *goredis.ClusterClient:
			o := once.(*goredis.ClusterClient).Options()
			if !tc.cluster || r.Options().MaxRetries != 1 || o.MaxRetries > 0 || o.MaxRedirects > 0 ||
				r.Options().ClusterStateReloadInterval != clusterReload {
				t.Errorf("%s: cluster client with retries %d, twin %d/%d", tc.url, r.Options().MaxRetries, o.MaxRetries, o.MaxRedirects)
			}
		case *goredis.Client:
			o := once.(*goredis.Client).Options()
			if tc.cluster || r.Options().MaxRetries != 1 || o.MaxRetries > 0 || o.ReadTimeout != time.Second {
				t.Errorf("%s: client with retries %d, twin %d", tc.url, r.Options().MaxRetries, o.MaxRetries)
			}
		}
		if r, ok := reports.(*goredis.Client); ok != !tc.cluster || ok && r.Options().PoolSize != reportConns {
			t.Errorf("%s: reports' client %T", tc.url, reports)
		} else if ok {
			_ = r.Close()
		}
		_ = rdb.Close()
		_ = once.Close()
		if pubsub != rdb {
			_ = pubsub.Close()
		}
	}
}

// The one password of redis+sentinel://:password@... goes to the
// sentinels too, unless the URL names a user or the sentinels' own.
func TestSentinelPasswordDefaultsToTheURLs(t *testing.T) {
	for _, tc := range []struct{ url, user, password string }{
		{"redis+sentinel://:pw@h:26379/m", "", "pw"},
		{"redis+sentinel://h:26379/m", "", ""},
		{"redis+sentinel://app:pw@h:26379/m", "", ""},
		{"redis+sentinel://:pw@h:26379/m?sentinel_password=sp", "", "sp"},
		{"redis+sentinel://:pw@h:26379/m?sentinel_username=su", "su", ""},
	} {
		u, err := parseURL(tc.url)
		if err != nil {
			t.Fatalf("parseURL(%q): %v", tc.url, err)
		}
		if o := u.failover; o.SentinelUsername != tc.user || o.SentinelPassword != tc.password {
			t.Errorf("%s: sentinels get %q/%q, want %q/%q", tc.url, o.SentinelUsername, o.SentinelPassword, tc.user, tc.password)
		}
	}
}
