package flow

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TEXTBOX_LIST values go out as a list of text (one text per box), the
// form the sandbox checks too.
func TestTextboxListSentAsList(t *testing.T) {
	t.Parallel()
	f := CustomField{Name: "Aliases", DataType: "TEXTBOX_LIST"}
	for _, tc := range []struct {
		in   any
		want any
	}{
		{[]any{"a", " b ", ""}, []any{"a", "b"}},
		{"one alias", []any{"one alias"}},
		{49, []any{"49"}},
	} {
		got, err := typedFieldValue(f, tc.in)
		if err != nil {
			t.Fatalf("%v: %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.in, diff)
		}
	}
	if _, err := typedFieldValue(f, map[string]any{"x": 1}); err == nil {
		t.Error("an object should not pass as a text list")
	}
}
