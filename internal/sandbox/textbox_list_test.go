package sandbox

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A TEXTBOX_LIST value is accepted as a list of text or as one text (taken
// as a list of one); anything else is refused.
func TestTextboxListAcceptsListOrText(t *testing.T) {
	t.Parallel()
	def := record{"id": "cf-l", "fieldKey": "contact.aliases", "dataType": "TEXTBOX_LIST"}
	for _, tc := range []struct {
		in      any
		want    any
		wantErr bool
	}{
		{[]any{"a", "b"}, []any{"a", "b"}, false},
		{"a, b", []any{"a, b"}, false},
		{float64(3), nil, true},
		{[]any{"a", float64(1)}, nil, true},
	} {
		got, msg := typedValue(def, tc.in)
		if (msg != "") != tc.wantErr {
			t.Fatalf("%v: error %q, want error %v", tc.in, msg, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.in, diff)
		}
	}
}
