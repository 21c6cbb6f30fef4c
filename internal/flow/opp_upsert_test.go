package flow

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// opportunities.upsert takes contactId (needed to create), and a required
// list that evaluates empty points at clear_empty.
func TestOpportunityUpsertContactAndEmptyFollowers(t *testing.T) {
	t.Parallel()
	src := `
trigger: {webhook: {source: generic}}
steps:
  - id: o
    op: opportunities.upsert
%s    with:
      pipelineId: p-1
      contactId: "{{ event.contact.id }}"
      name: Deal
      status: open
      followers: []
      followersActionType: add
      isRemoveAllFollowers: false
`
	env := func() *Env { return testEnv(t, `{"contact": {"id": "c-9"}}`) }

	s, _ := mustParse(t, strings.Replace(src, "%s", "", 1)).Step("o")
	_, err := s.Request(context.Background(), env())
	if err == nil || !strings.Contains(err.Error(), "add clear_empty: [followers] to the step") {
		t.Fatalf("want a clear_empty hint, got %v", err)
	}

	f := mustParse(t, strings.Replace(src, "%s", "    clear_empty: [followers]\n", 1))
	req := request(t, f, "o", env())
	want := map[string]any{"pipelineId": "p-1", "contactId": "c-9", "name": "Deal", "status": "open",
		"followers": []any{}, "followersActionType": "add", "isRemoveAllFollowers": false, "locationId": "loc1"}
	if diff := cmp.Diff(want, req.Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}
