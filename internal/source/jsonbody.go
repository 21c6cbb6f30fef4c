package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"
)

// DecodeJSON decodes a delivery body into a JSON object with numbers kept
// as json.Number, so large ids and money amounts survive unchanged. A body
// that is not exactly one JSON object yields *Error{Status: 400} naming the
// line, column and byte offset of the problem. Strings must be valid UTF-8
// (RFC 8259); a leading UTF-8 byte order mark is tolerated.
func DecodeJSON(raw []byte) (map[string]any, error) {
	body := bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	skipped := len(raw) - len(body)
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errorf(http.StatusBadRequest, "malformed JSON: the body is empty")
	}
	if !utf8.Valid(body) {
		off := invalidUTF8Offset(body)
		line, col := lineCol(body, off)
		return nil, errorf(http.StatusBadRequest, "malformed JSON: invalid UTF-8 at line %d, column %d (byte offset %d)", line, col, off+skipped)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(body, skipped, err)
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		off := end + len(body[end:]) - len(bytes.TrimLeft(body[end:], " \t\r\n"))
		line, col := lineCol(body, off)
		return nil, errorf(http.StatusBadRequest, "malformed JSON: unexpected data after the top-level value at line %d, column %d (byte offset %d)", line, col, off+skipped)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "malformed JSON: the body is %s, want an object", jsonKind(v))
	}
	return obj, nil
}

func jsonError(body []byte, skipped int, err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	off := -1
	switch {
	case errors.As(err, &syn):
		off = int(syn.Offset)
	case errors.As(err, &typ):
		off = int(typ.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = len(body)
		line, col := lineCol(body, off)
		return errorf(http.StatusBadRequest, "malformed JSON: the body ends early at line %d, column %d (byte offset %d)", line, col, off+skipped)
	}
	if off < 0 {
		return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	// The decoder's offset points just past the offending byte.
	if off > 0 {
		off--
	}
	line, col := lineCol(body, off)
	return errorf(http.StatusBadRequest, "malformed JSON at line %d, column %d (byte offset %d): %v", line, col, off+skipped, err)
}

// lineCol converts a byte offset to a 1-based line and a 1-based column
// counted in characters.
func lineCol(b []byte, off int) (int, int) {
	off = min(max(off, 0), len(b))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
