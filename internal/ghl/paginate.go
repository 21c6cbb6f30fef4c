package ghl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// PageOptions tune Items.
type PageOptions struct {
	// PageSize is the number of items asked for per request (default and
	// maximum: the operation's documented maximum). A limit the caller put
	// in Params wins.
	PageSize int
	// MaxPages caps the number of requests (0 = 100). Reaching the cap with
	// more to read yields an error wrapping ErrPageCap.
	MaxPages int
}

// Paging errors, for errors.Is.
var (
	ErrPageCap        = errors.New("ghl: page cap reached before the end of the list")
	ErrRepeatedCursor = errors.New("ghl: paging cursor repeated")
	ErrNotList        = errors.New("ghl: operation does not return a list")
)

// searchDepth is how deep POST /contacts/search pages by page number; past
// it GHL wants the searchAfter cursor.
const searchDepth = 10_000

// Items pages through a list operation and yields each item as raw JSON.
// Every request repeats all of the caller's query parameters and body fields
// (and the locationId). Paging stops on a short or empty page, never on a
// reported total; a cursor that comes back twice, or a page that only
// repeats items already seen, ends the sequence with an error instead of
// looping. Items seen twice (lists that shift while being read) are yielded
// once. For time-window operations the caller's window is split into the
// longest windows GHL accepts; free slots are yielded as JSON strings.
func (c *Client) Items(ctx context.Context, opID string, p Params, o PageOptions) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		op, err := catalog.Lookup(opID)
		if err != nil {
			yield(nil, fmt.Errorf("ghl: %w", err))
			return
		}
		if op.Pagination == nil {
			yield(nil, fmt.Errorf("%w: %s (use Do)", ErrNotList, op.ID))
			return
		}
		pg := &pager{c: c, op: op, pag: op.Pagination, p: p, o: o, seenIDs: map[string]bool{}, seenCursors: map[string]int{}}
		if pg.o.MaxPages <= 0 {
			pg.o.MaxPages = 100
		}
		if err := pg.run(ctx, yield); err != nil {
			yield(nil, err)
		}
	}
}

type pager struct {
	c           *Client
	op          *catalog.Operation
	pag         *catalog.Pagination
	p           Params
	o           PageOptions
	body        map[string]any // caller's body as a map (body-paged ops)
	size        int
	seenIDs     map[string]bool
	seenCursors map[string]int
}

// errStop ends paging because the consumer stopped.
var errStop = errors.New("stop")

func (g *pager) run(ctx context.Context, yield func(json.RawMessage, error) bool) error {
	if g.pag.In == "body" || g.pag.Style == catalog.PagePage {
		m, err := bodyMap(g.p.Body)
		if err != nil {
			return fmt.Errorf("ghl %s: paging needs a JSON object body: %w", g.op.ID, err)
		}
		g.body = m
	}
	g.size = g.pageSize()
	switch g.pag.Style {
	case catalog.PageNone:
		_, _, err := g.fetch(ctx, g.p, yield)
		return ignoreStop(err)
	case catalog.PageWindow:
		return ignoreStop(g.windows(ctx, yield))
	case catalog.PagePage, catalog.PageStartAfter, catalog.PageSkip, catalog.PageOffset, catalog.PageLastID, catalog.PageStartAfterDate:
		return ignoreStop(g.pages(ctx, yield))
	}
	return fmt.Errorf("ghl %s: unknown pagination style %q", g.op.ID, g.pag.Style)
}

func ignoreStop(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (g *pager) pageSize() int {
	limit := g.pag.MaxLimit
	if limit <= 0 {
		limit = 100
	}
	if lp := g.pag.LimitParam; lp != "" {
		if v, err := strconv.Atoi(g.p.Query.Get(lp)); err == nil && v > 0 {
			return v
		}
		if g.body != nil {
			if v, ok := g.body[lp]; ok {
				if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	if g.o.PageSize > 0 && g.o.PageSize < limit {
		return g.o.PageSize
	}
	return limit
}

// pageState carries the cursor from one page to the next.
type pageState struct {
	page        int
	offset      int
	cursor      map[string]string // query/body cursor values
	searchAfter json.RawMessage
}

func (g *pager) pages(ctx context.Context, yield func(json.RawMessage, error) bool) error {
	st := pageState{page: 1}
	for n := 1; ; n++ {
		if n > g.o.MaxPages {
			return fmt.Errorf("%w: %s stopped after %d pages of %d (raise the page cap or narrow the query)", ErrPageCap, g.op.ID, g.o.MaxPages, g.size)
		}
		params := g.pageParams(st)
		items, doc, err := g.fetch(ctx, params, yield)
		if err != nil {
			return err
		}
		if len(items) < g.size {
			return nil // short or empty page: the end
		}
		// Prepare the next page.
		st.page++
		st.offset += len(items)
		cursorKey := ""
		switch g.pag.Style {
		case catalog.PagePage:
			if (st.page)*g.size > searchDepth {
				sa := lookupRaw(items[len(items)-1], "searchAfter")
				if len(sa) == 0 {
					return fmt.Errorf("ghl %s: page %d would pass %d results and the last item has no searchAfter cursor", g.op.ID, st.page, searchDepth)
				}
				st.searchAfter = sa
				cursorKey = string(sa)
			}
		case catalog.PageSkip, catalog.PageOffset:
			// offset advances by the items received
		case catalog.PageStartAfter:
			meta := lookupRaw(doc, "meta")
			sa, sid := jsonScalar(lookupRaw(meta, "startAfter")), jsonScalar(lookupRaw(meta, "startAfterId"))
			if sid == "" || sa == "" {
				if g.op.HasQuery("page") {
					st.cursor = map[string]string{"page": strconv.Itoa(st.page)}
					break
				}
				return fmt.Errorf("ghl %s: page %d was full but meta has no startAfter/startAfterId to continue from", g.op.ID, n)
			}
			st.cursor = map[string]string{"startAfter": sa, "startAfterId": sid}
			cursorKey = sa + "/" + sid
		case catalog.PageLastID:
			parent := doc
			if i := strings.LastIndexByte(g.pag.List, '.'); i >= 0 {
				parent = lookupPath(doc, g.pag.List[:i])
			}
			if np := lookupRaw(parent, "nextPage"); string(np) == "false" {
				return nil
			}
			last := jsonScalar(lookupRaw(parent, "lastMessageId"))
			if last == "" {
				last = jsonScalar(lookupRaw(items[len(items)-1], g.pag.ItemID))
			}
			if last == "" {
				return fmt.Errorf("ghl %s: page %d was full but has no last id to continue from", g.op.ID, n)
			}
			st.cursor = map[string]string{g.pag.CursorParam: last}
			cursorKey = last
		case catalog.PageStartAfterDate:
			lastItem := items[len(items)-1]
			v := ""
			if s := lookupRaw(lastItem, "sort"); len(s) > 0 && s[0] == '[' {
				var arr []json.RawMessage
				if json.Unmarshal(s, &arr) == nil && len(arr) > 0 {
					v = jsonScalar(arr[0])
				}
			}
			for _, f := range []string{"lastMessageDate", "dateUpdated", "dateAdded"} {
				if v == "" {
					v = jsonScalar(lookupRaw(lastItem, f))
				}
			}
			if v == "" {
				return fmt.Errorf("ghl %s: page %d was full but its last item has no sort value to continue from", g.op.ID, n)
			}
			st.cursor = map[string]string{g.pag.CursorParam: v}
			cursorKey = v
		}
		if cursorKey != "" {
			if prev, ok := g.seenCursors[cursorKey]; ok {
				return fmt.Errorf("%w: %s page %d returned cursor %s, already returned by page %d; stopping instead of looping", ErrRepeatedCursor, g.op.ID, n, cursorKey, prev)
			}
			g.seenCursors[cursorKey] = n
		}
	}
}

// pageParams builds one page's request: the caller's parameters, always all
// of them, plus the paging parameters.
func (g *pager) pageParams(st pageState) Params {
	p := g.p
	p.Query = cloneValues(g.p.Query)
	set := func(k string, v any) {
		if g.body != nil && (g.pag.In == "body" || g.pag.Style == catalog.PagePage) {
			g.bodySet(&p, k, v)
			return
		}
		p.Query.Set(k, fmt.Sprint(v))
	}
	if g.body != nil {
		p.Body = cloneMap(g.body)
	}
	if lp := g.pag.LimitParam; lp != "" {
		set(lp, g.size)
	}
	switch g.pag.Style {
	case catalog.PagePage:
		if st.searchAfter != nil {
			delete(p.Body.(map[string]any), g.pag.PageParam)
			set("searchAfter", st.searchAfter)
		} else {
			set(g.pag.PageParam, st.page)
		}
	case catalog.PageSkip, catalog.PageOffset:
		set(g.pag.CursorParam, st.offset+g.startOffset())
	}
	for k, v := range st.cursor {
		set(k, v)
	}
	return p
}

// startOffset is a skip/offset the caller asked to start from.
func (g *pager) startOffset() int {
	if cp := g.pag.CursorParam; cp != "" {
		if v, err := strconv.Atoi(g.p.Query.Get(cp)); err == nil && v > 0 {
			return v
		}
		if g.body != nil {
			if n, err := strconv.Atoi(fmt.Sprint(g.body[cp])); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

func (g *pager) bodySet(p *Params, k string, v any) {
	m, _ := p.Body.(map[string]any)
	if m == nil {
		m = map[string]any{}
		p.Body = m
	}
	m[k] = v
}

// fetch sends one request and yields its new items. It returns the items
// (including ones seen before) and the decoded document.
func (g *pager) fetch(ctx context.Context, p Params, yield func(json.RawMessage, error) bool) ([]json.RawMessage, json.RawMessage, error) {
	resp, err := g.c.Do(ctx, g.op.ID, p)
	if err != nil {
		return nil, nil, err
	}
	doc := json.RawMessage(resp.Body)
	var items []json.RawMessage
	if g.pag.List == "" && g.pag.ItemID == "" && g.pag.Style == catalog.PageWindow {
		items, err = slotItems(doc)
	} else {
		items, err = listItems(doc, g.pag.List)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ghl %s: %w", g.op.ID, err)
	}
	fresh := 0
	for _, it := range items {
		id := ""
		if g.pag.ItemID != "" {
			id = jsonScalar(lookupRaw(it, g.pag.ItemID))
		}
		if id != "" {
			if g.seenIDs[id] {
				continue
			}
			g.seenIDs[id] = true
		}
		fresh++
		if !yield(it, nil) {
			return nil, nil, errStop
		}
	}
	if len(items) > 0 && fresh == 0 && g.pag.Style != catalog.PageNone && g.pag.Style != catalog.PageWindow {
		return nil, nil, fmt.Errorf("%w: %s returned a page of %d items all returned before; the server is ignoring the paging parameters", ErrRepeatedCursor, g.op.ID, len(items))
	}
	return items, doc, nil
}

// windows splits the caller's [start, end] window (epoch ms) into windows GHL
// accepts and reads each.
func (g *pager) windows(ctx context.Context, yield func(json.RawMessage, error) bool) error {
	sp, ep := g.pag.StartParam, g.pag.EndParam
	start, err1 := strconv.ParseInt(g.p.Query.Get(sp), 10, 64)
	end, err2 := strconv.ParseInt(g.p.Query.Get(ep), 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("ghl %s: query %s and %s must be epoch milliseconds", g.op.ID, sp, ep)
	}
	if end < start {
		return fmt.Errorf("ghl %s: %s is before %s", g.op.ID, ep, sp)
	}
	step := int64(0)
	if g.pag.MaxWindowDays > 0 {
		step = int64(g.pag.MaxWindowDays) * int64(24*time.Hour/time.Millisecond)
	}
	for n := 1; start <= end; n++ {
		if n > g.o.MaxPages {
			return fmt.Errorf("%w: %s stopped after %d windows", ErrPageCap, g.op.ID, g.o.MaxPages)
		}
		wEnd := end
		if step > 0 && end-start > step {
			wEnd = start + step - 1
		}
		p := g.p
		p.Query = cloneValues(g.p.Query)
		p.Query.Set(sp, strconv.FormatInt(start, 10))
		p.Query.Set(ep, strconv.FormatInt(wEnd, 10))
		if _, _, err := g.fetch(ctx, p, yield); err != nil {
			return err
		}
		start = wEnd + 1
	}
	return nil
}

// slotItems flattens a free-slots answer {"2026-03-09":{"slots":[...]},...}
// into its slot strings, in date order.
func slotItems(doc json.RawMessage) ([]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("free slots: %w", err)
	}
	days := make([]string, 0, len(m))
	for k := range m {
		if _, err := time.Parse("2006-01-02", k); err == nil {
			days = append(days, k)
		}
	}
	sort.Strings(days)
	var out []json.RawMessage
	for _, d := range days {
		var day struct {
			Slots []json.RawMessage `json:"slots"`
		}
		if err := json.Unmarshal(m[d], &day); err != nil {
			return nil, fmt.Errorf("free slots of %s: %w", d, err)
		}
		out = append(out, day.Slots...)
	}
	return out, nil
}

// listItems returns the array at the dotted path ("" = the document).
func listItems(doc json.RawMessage, path string) ([]json.RawMessage, error) {
	v := gjson.ParseBytes(doc)
	if path != "" {
		v = v.Get(path)
	}
	if !v.Exists() || v.Type == gjson.Null {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, fmt.Errorf("list %q is not an array (got %.40s)", path, v.Raw)
	}
	var items []json.RawMessage
	v.ForEach(func(_, item gjson.Result) bool {
		items = append(items, json.RawMessage(item.Raw))
		return true
	})
	return items, nil
}

// lookupPath returns the raw value at a dotted path, nil when absent.
func lookupPath(doc json.RawMessage, path string) json.RawMessage {
	r := gjson.GetBytes(doc, path)
	if !r.Exists() {
		return nil
	}
	return json.RawMessage(r.Raw)
}

// lookupRaw returns the raw value of a top-level field, nil when absent.
func lookupRaw(doc json.RawMessage, key string) json.RawMessage {
	if len(doc) == 0 {
		return nil
	}
	return lookupPath(doc, gjsonEscape(key))
}

func gjsonEscape(key string) string {
	if !strings.ContainsAny(key, ".*?|#@!\\") {
		return key
	}
	var b strings.Builder
	for _, r := range key {
		if strings.ContainsRune(".*?|#@!\\", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonScalar renders a JSON string or number as text ("" for anything else).
func jsonScalar(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	if v[0] == '-' || (v[0] >= '0' && v[0] <= '9') {
		return string(v)
	}
	return ""
}

func bodyMap(body any) (map[string]any, error) {
	switch b := body.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return cloneMap(b), nil
	}
	var data []byte
	switch b := body.(type) {
	case json.RawMessage:
		data = b
	case []byte:
		data = b
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}
