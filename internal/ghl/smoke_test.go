package ghl

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSmokeDo(t *testing.T) {
	t.Parallel()
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Write([]byte(`{"contact":{"id":"c1"},"traceId":"t1"}`))
	}))
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL}, StaticToken("pit-abc"), "loc1")
	resp, err := c.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "a/b"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.TraceID != "t1" || got.URL.EscapedPath() != "/contacts/a%2Fb" || got.Header.Get("Version") != "2021-07-28" || got.Header.Get("Authorization") != "Bearer pit-abc" {
		t.Fatalf("resp %+v path %s hdr %v", resp, got.URL.EscapedPath(), got.Header)
	}
}
