package api

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/herald-broker/herald/broker"
)

// The HTTP column of docs/protocol.md's table of error codes is the
// status statusOf answers each code with. cmd/herald's docs test sees to
// it that the table lists exactly the codes declared; this one, that the
// status beside each is the one a client gets.
func TestDocsGiveEachCodeItsStatus(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) \\|").FindAllStringSubmatch(string(doc), -1)
	if len(rows) < 10 {
		t.Fatalf("found %d rows of the error code table", len(rows))
	}
	for _, row := range rows {
		documented, _ := strconv.Atoi(row[2])
		if got := statusOf(broker.Code(row[1])); got != documented {
			t.Errorf("docs/protocol.md gives %s HTTP %d; the API answers it %d", row[1], documented, got)
		}
	}
}
