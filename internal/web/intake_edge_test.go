package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// TestDeliveriesThatCanNeverBeStored: a NUL character anywhere in the JSON
// and an id of only whitespace get 422 on both databases (never 429, which
// would make the sender retry forever), and nothing is stored.
func TestDeliveriesThatCanNeverBeStored(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := newFixtureOn(t, d)
			for _, tt := range []struct{ name, body, want string }{
				{"NUL in the id", `{"id":"pg\u0000id","type":"contact.created","data":{"email":"a@example.com"}}`,
					`JSON contains a NUL character (\\u0000), which cannot be stored`},
				{"NUL in data", `{"id":"e2","type":"contact.created","data":{"email":"a@example.com","note":"x\u0000y"}}`,
					`JSON contains a NUL character (\\u0000), which cannot be stored`},
				{"whitespace id", `{"id":"   ","type":"contact.created","data":{}}`, "only whitespace"},
			} {
				a := f.deliver("contacts", []byte(tt.body))
				if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.text, tt.want) {
					t.Errorf("%s: %d %s, want 422 saying %s", tt.name, a.status, a.text, tt.want)
				}
			}
			if n, _ := f.st.CountEvents(context.Background(), ""); n != 0 {
				t.Errorf("%d events stored, want none", n)
			}
			if a := f.deliver("contacts", []byte(`{"id":"e3","type":"contact.created","data":{"note":"\\u0000 as text"}}`)); a.status != http.StatusAccepted {
				t.Errorf("an escaped backslash before u0000 is text, not NUL: %d %s", a.status, a.text)
			}
		})
	}
}
