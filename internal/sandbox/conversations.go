package sandbox

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

func init() {
	register(map[string]handlerFunc{
		"conversations.search":                (*call).convSearch,
		"conversations.get":                   (*call).convGet,
		"conversations.getEmail":              (*call).convEmail,
		"conversations.getMessage":            (*call).convMessage,
		"conversations.listMessages":          (*call).convMessages,
		"conversations.getRecording":          (*call).convRecording,
		"conversations.getTranscription":      (*call).convTranscription,
		"conversations.downloadTranscription": (*call).convTranscriptionDownload,
		"conversations.updateMessageStatus":   (*call).convMessageStatus,
		"conversations.agentTyping":           (*call).convTyping,
	})
}

// GHL's numeric message and conversation types.
var messageTypeNumbers = map[string]float64{
	"TYPE_CALL": 1, "TYPE_SMS": 2, "TYPE_EMAIL": 3, "TYPE_FACEBOOK": 4, "TYPE_GMB": 5, "TYPE_INSTAGRAM": 6,
	"TYPE_WHATSAPP": 7, "TYPE_LIVE_CHAT": 11, "TYPE_ACTIVITY_APPOINTMENT": 13, "TYPE_ACTIVITY_CONTACT": 14,
	"TYPE_WEBCHAT": 16, "TYPE_REVIEW": 19, "TYPE_CUSTOM_SMS": 20, "TYPE_CUSTOM_EMAIL": 21,
}

var conversationTypeNumbers = map[string]float64{"TYPE_PHONE": 1, "TYPE_EMAIL": 2, "TYPE_FB_MESSENGER": 3, "TYPE_REVIEW": 4, "TYPE_GROUP_SMS": 5}

func newConversation(r, contact record, ts string) {
	setDefault(r, "type", "TYPE_PHONE")
	setDefault(r, "unreadCount", float64(0))
	setDefault(r, "deleted", false)
	setDefault(r, "inbox", true)
	setDefault(r, "starred", false)
	setDefault(r, "dateAdded", ts)
	setDefault(r, "dateUpdated", ts)
	r["contactName"] = str(contact, "contactName")
	r["fullName"] = str(contact, "contactName")
	r["email"] = str(contact, "email")
	r["phone"] = str(contact, "phone")
	r["lastMessageBody"] = ""
	r["lastMessageType"] = "TYPE_SMS"
	r["lastMessageDate"] = float64(millisOf(ts))
}

func newMessage(r, conv record, ts string) {
	setDefault(r, "messageType", "TYPE_SMS")
	r["type"] = messageTypeNumbers[str(r, "messageType")]
	r["locationId"] = str(conv, "locationId")
	r["contactId"] = str(conv, "contactId")
	setDefault(r, "dateAdded", ts)
	setDefault(r, "direction", "outbound")
	setDefault(r, "status", "delivered")
	setDefault(r, "body", "")
	setDefault(r, "attachments", []any{})
	setDefault(r, "source", "app")
	ct := "text/plain"
	meta := map[string]any{}
	if str(r, "messageType") == "TYPE_EMAIL" {
		ct = "text/html"
		setDefault(r, "subject", "")
		setDefault(r, "threadId", idOf(r))
		setDefault(r, "from", "Sandbox Location <location@example.com>")
		setDefault(r, "to", []any{firstNonEmpty(str(conv, "email"), "contact@example.com")})
		meta["email"] = map[string]any{"messageIds": []any{idOf(r)}}
	}
	if str(r, "messageType") == "TYPE_CALL" {
		d, _ := num(r, "callDuration")
		delete(r, "callDuration")
		meta["callDuration"] = strconv.Itoa(int(d))
		meta["callStatus"] = "completed"
	}
	setDefault(r, "contentType", ct)
	setDefault(r, "meta", meta)
}

// refreshConversation mirrors the newest message onto its conversation.
func refreshConversation(st *state, conv record) {
	msgs := st.t("messages").filter(func(r record) bool { return str(r, "conversationId") == idOf(conv) })
	if len(msgs) == 0 {
		return
	}
	sortByDateID(msgs, "dateAdded", true)
	last := msgs[0]
	conv["lastMessageBody"] = str(last, "body")
	conv["lastMessageType"] = str(last, "messageType")
	conv["lastMessageDirection"] = str(last, "direction")
	conv["lastMessageDate"] = float64(millisOf(str(last, "dateAdded")))
	unread := 0
	for _, m := range msgs {
		if str(m, "direction") == "inbound" && str(m, "status") != "read" {
			unread++
		}
	}
	conv["unreadCount"] = float64(unread)
}

func (c *call) conversation(id string) (record, *reply) {
	r := c.st.t("conversations").get(id)
	if r == nil || boolean(r, "deleted") {
		return nil, ptr(errNotFound("Conversation"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

func (c *call) message(id string) (record, *reply) {
	r := c.st.t("messages").get(id)
	if r == nil {
		return nil, ptr(errNotFound("Message"))
	}
	if rep := c.owns(r); rep != nil {
		return nil, rep
	}
	return r, nil
}

var messageFields = []string{"id", "type", "messageType", "locationId", "contactId", "conversationId", "dateAdded",
	"body", "direction", "status", "contentType", "attachments", "meta", "source", "userId", "conversationProviderId"}

func convSearchOut(r record) record {
	out := pick(r, "id", "contactId", "locationId", "lastMessageBody", "lastMessageType", "lastMessageDirection", "type",
		"unreadCount", "fullName", "contactName", "email", "phone", "assignedTo", "starred", "lastMessageDate", "dateUpdated")
	out["dateAdded"] = float64(millisOf(str(r, "dateAdded")))
	out["sort"] = []any{r["lastMessageDate"]}
	return out
}

// convSearch pages newest first with startAfterDate, the lastMessageDate
// (epoch ms) of the last conversation of the previous page.
func (c *call) convSearch() reply {
	q := c.q
	limit := c.intQuery("limit", 20, 100)
	if limit == 0 {
		limit = 20
	}
	text := lower(q.Get("query"))
	var startDate, endDate int64
	if v := q.Get("startDate"); v != "" {
		startDate = int64(atoiDefault(v, 0))
	}
	if v := q.Get("endDate"); v != "" {
		endDate = int64(atoiDefault(v, 0))
	}
	items := c.st.t("conversations").filter(func(r record) bool {
		added := millisOf(str(r, "dateAdded"))
		switch {
		case str(r, "locationId") != c.loc, boolean(r, "deleted"),
			q.Get("contactId") != "" && str(r, "contactId") != q.Get("contactId"),
			q.Get("assignedTo") != "" && str(r, "assignedTo") != q.Get("assignedTo"),
			q.Get("id") != "" && idOf(r) != q.Get("id"),
			q.Get("lastMessageType") != "" && str(r, "lastMessageType") != q.Get("lastMessageType"),
			q.Get("lastMessageDirection") != "" && str(r, "lastMessageDirection") != q.Get("lastMessageDirection"),
			q.Get("status") == "unread" && numOr(r, "unreadCount", 0) == 0,
			q.Get("status") == "read" && numOr(r, "unreadCount", 0) > 0,
			q.Get("status") == "starred" && !boolean(r, "starred"),
			startDate > 0 && added < startDate, endDate > 0 && added > endDate,
			text != "" && !strings.Contains(lower(str(r, "fullName")+" "+str(r, "email")+" "+str(r, "phone")+" "+str(r, "lastMessageBody")), text):
			return false
		}
		return true
	})
	desc := q.Get("sort") != "asc"
	slices.SortStableFunc(items, func(a, b record) int {
		x, y := numOr(a, "lastMessageDate", 0), numOr(b, "lastMessageDate", 0)
		if x == y {
			return strings.Compare(idOf(a), idOf(b))
		}
		if (x > y) == desc {
			return -1
		}
		return 1
	})
	total := len(items)
	if v := q.Get("startAfterDate"); v != "" {
		after, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errUnprocessable("startAfterDate must be epoch milliseconds")
		}
		items = slices.DeleteFunc(items, func(r record) bool {
			d := numOr(r, "lastMessageDate", 0)
			return (desc && d >= after) || (!desc && d <= after)
		})
	}
	page := pageOf(items, 0, limit)
	return ok(map[string]any{"conversations": recsToAnyWith(page, convSearchOut), "total": total, "traceId": c.trace})
}

func (c *call) convGet() reply {
	r, rep := c.conversation(c.path["conversationId"])
	if rep != nil {
		return *rep
	}
	out := pick(r, "id", "contactId", "locationId", "deleted", "inbox", "unreadCount", "assignedTo", "starred",
		"fullName", "contactName", "email", "phone", "lastMessageBody", "lastMessageType", "lastMessageDate", "dateAdded", "dateUpdated")
	out["type"] = conversationTypeNumbers[str(r, "type")]
	out["traceId"] = c.trace
	return ok(out)
}

func (c *call) convMessage() reply {
	m, rep := c.message(c.path["id"])
	if rep != nil {
		return *rep
	}
	return ok(pick(m, messageFields...))
}

func (c *call) convEmail() reply {
	m, rep := c.message(c.path["id"])
	if rep != nil {
		return *rep
	}
	if str(m, "messageType") != "TYPE_EMAIL" {
		return errNotFound("Email")
	}
	out := pick(m, "id", "threadId", "locationId", "contactId", "conversationId", "dateAdded", "subject", "body",
		"direction", "status", "contentType", "attachments", "from", "to", "cc", "bcc", "source", "conversationProviderId")
	out["provider"] = "Leadconnector"
	return ok(out)
}

// convMessages pages newest first; lastMessageId is the id of the last
// message of the previous page. An unknown cursor is a 400, not a restart.
func (c *call) convMessages() reply {
	conv, rep := c.conversation(c.path["conversationId"])
	if rep != nil {
		return *rep
	}
	limit := c.intQuery("limit", 20, 100)
	if limit == 0 {
		limit = 20
	}
	types := strings.Split(c.q.Get("type"), ",")
	ms := c.st.t("messages").filter(func(r record) bool {
		return str(r, "conversationId") == idOf(conv) && (c.q.Get("type") == "" || slices.Contains(types, str(r, "messageType")))
	})
	sortByDateID(ms, "dateAdded", true)
	start := 0
	if last := c.q.Get("lastMessageId"); last != "" {
		i := slices.IndexFunc(ms, func(r record) bool { return idOf(r) == last })
		if i < 0 {
			return errBadRequest("lastMessageId " + last + " is not a message of this conversation")
		}
		start = i + 1
	}
	page := pageOf(ms, start, limit)
	body := map[string]any{"messages": recsToAnyWith(page, func(r record) record { return pick(r, messageFields...) }),
		"nextPage": start+len(page) < len(ms)}
	if len(page) > 0 {
		body["lastMessageId"] = idOf(page[len(page)-1])
	} else {
		body["lastMessageId"] = ""
	}
	return ok(map[string]any{"messages": body, "traceId": c.trace})
}

func (c *call) callMessage() (record, *reply) {
	if c.path["locationId"] != c.tok.LocationID && !c.tok.agency() {
		return nil, ptr(errForbiddenLocation())
	}
	m, rep := c.message(c.path["messageId"])
	if rep != nil {
		return nil, rep
	}
	if str(m, "locationId") != c.path["locationId"] {
		return nil, ptr(errNotFound("Message"))
	}
	if str(m, "messageType") != "TYPE_CALL" {
		return nil, ptr(errNotFound("Recording"))
	}
	return m, nil
}

// silentWAV is a tenth of a second of 8 kHz, 8-bit mono silence.
func silentWAV() []byte {
	const n = 800
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], 36+n)
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)    // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)    // mono
	binary.LittleEndian.PutUint32(b[24:], 8000) // sample rate
	binary.LittleEndian.PutUint32(b[28:], 8000) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 1)
	binary.LittleEndian.PutUint16(b[34:], 8)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], n)
	for i := 44; i < len(b); i++ {
		b[i] = 0x80
	}
	return b
}

func (c *call) convRecording() reply {
	if _, rep := c.callMessage(); rep != nil {
		return *rep
	}
	return reply{status: 200, raw: silentWAV(), contentType: "audio/x-wav",
		header: map[string]string{"Content-Disposition": "attachment; filename=audio.wav"}}
}

func transcript(m record) []any {
	lines := strs(m, "transcript")
	if len(lines) == 0 {
		lines = []string{"Hello, this is the sandbox calling.", "Thanks, talk soon."}
	}
	out := make([]any, 0, len(lines))
	for i, l := range lines {
		out = append(out, map[string]any{"mediaChannel": float64(1 + i%2), "sentenceIndex": float64(i),
			"startTime": float64(i * 3), "endTime": float64(i*3 + 3), "transcript": l, "confidence": 0.93})
	}
	return out
}

func (c *call) convTranscription() reply {
	m, rep := c.callMessage()
	if rep != nil {
		return *rep
	}
	return ok(transcript(m))
}

func (c *call) convTranscriptionDownload() reply {
	m, rep := c.callMessage()
	if rep != nil {
		return *rep
	}
	var b strings.Builder
	for _, s := range transcript(m) {
		e := s.(map[string]any)
		fmt.Fprintf(&b, "[%s - %s] channel %v: %s\n", clock(e["startTime"]), clock(e["endTime"]), e["mediaChannel"], e["transcript"])
	}
	return reply{status: 200, raw: []byte(b.String()), contentType: "text/plain; charset=utf-8",
		header: map[string]string{"Content-Disposition": "attachment; filename=transcription.txt"}}
}

func clock(v any) string {
	f, _ := v.(float64)
	d := time.Duration(f) * time.Second
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (c *call) convMessageStatus() reply {
	m, rep := c.message(c.path["messageId"])
	if rep != nil {
		return *rep
	}
	st := str(c.body, "status")
	if !slices.Contains([]string{"delivered", "failed", "pending", "read"}, st) {
		return errUnprocessable("status must be one of the following values: delivered, failed, pending, read")
	}
	m["status"] = st
	if e, ok := c.body["error"]; ok {
		m["error"] = clone(e)
	}
	if conv := c.st.t("conversations").get(str(m, "conversationId")); conv != nil {
		refreshConversation(c.st, conv)
	}
	out := map[string]any{"conversationId": str(m, "conversationId"), "messageId": idOf(m), "status": st,
		"msg": "Message status updated", "traceId": c.trace}
	if e := str(c.body, "emailMessageId"); e != "" {
		out["emailMessageId"] = e
	}
	return ok(out)
}

func (c *call) convTyping() reply {
	if _, rep := c.conversation(str(c.body, "conversationId")); rep != nil {
		return *rep
	}
	return created(map[string]any{"success": true})
}
