package textdist

import "testing"

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"contacts.upsert", "contacts.upsret", 2},
		{"same", "same", 0},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	cands := []string{"ContactCreate", "ContactUpdate", "NoteCreate"}
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"contactcreate", 3, "ContactCreate"},
		{"ContactCreat", 3, "ContactCreate"},
		{"NoteCraete", 3, "NoteCreate"},
		{"Invoice", 3, ""},
		{"ContactUpdat", 0, ""},
	} {
		if got := Closest(tc.in, cands, tc.max); got != tc.want {
			t.Errorf("Closest(%q, max %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
