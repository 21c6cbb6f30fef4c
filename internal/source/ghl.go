package source

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// GHL webhook signature headers.
const (
	HeaderGHLSignature = "X-Ghl-Signature" // Ed25519, base64
	HeaderWHSignature  = "X-Wh-Signature"  // RSA PKCS#1 v1.5 SHA-256, base64 (legacy)
)

func init() { Register("ghl", newGHL) }

// ghlSource verifies GoHighLevel's own webhooks. If x-ghl-signature is
// present it must verify with one of the Ed25519 keys (no fallback to the
// legacy header, as GHL's SDK does); otherwise x-wh-signature must verify
// with one of the RSA keys. The signed JSON's "timestamp" must be within
// tolerance, and its "webhookId" is the event id.
//
// Configuration (trigger.webhook):
//
//	ed25519_public_keys: [env:GHL_WEBHOOK_ED25519_KEY]  # PEM, base64 or hex; several during a rotation
//	rsa_public_keys: [default]    # "default" = GHL's published key (the default)
//	tolerance: 5m
//	unsigned: true                # accept without a signature (flagged)
//	types: [ContactCreate, ContactUpdate]
type ghlSource struct {
	edKeys    []ed25519.PublicKey
	rsaKeys   []*rsa.PublicKey
	tolerance time.Duration
	unsigned  bool
	types     map[string]bool
	now       func() time.Time
}

func newGHL(m map[string]any, lookup SecretLookup) (Source, error) {
	c := newConfig(m)
	s := &ghlSource{now: time.Now}
	var err error
	if s.tolerance, err = c.duration("tolerance", DefaultTolerance); err != nil {
		return nil, err
	}
	if s.unsigned, err = c.boolean("unsigned"); err != nil {
		return nil, err
	}
	if s.types, err = c.typeFilter(GHLEventTypes); err != nil {
		return nil, err
	}
	_, edSet := c.m["ed25519_public_keys"]
	edRefs, err := c.strs("ed25519_public_keys")
	if err != nil {
		return nil, err
	}
	_, rsaSet := c.m["rsa_public_keys"]
	rsaRefs, err := c.strs("rsa_public_keys")
	if err != nil {
		return nil, err
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	if s.unsigned {
		if edSet || rsaSet {
			return nil, fmt.Errorf("unsigned: true and public keys are both set; remove one")
		}
		return s, nil
	}
	if !rsaSet {
		rsaRefs = []string{"default"}
	}
	for i, ref := range edRefs {
		k, err := resolveKey(ref, lookup, "ed25519")
		if err != nil {
			return nil, fmt.Errorf("ed25519_public_keys[%d]: %w", i, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("ed25519_public_keys[%d]: is a %s key, not Ed25519", i, keyKind(k))
		}
		s.edKeys = append(s.edKeys, ek)
	}
	for i, ref := range rsaRefs {
		if ref == "default" {
			ref = GHLRSAPublicKey
		}
		k, err := resolveKey(ref, lookup, "rsa")
		if err != nil {
			return nil, fmt.Errorf("rsa_public_keys[%d]: %w", i, err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("rsa_public_keys[%d]: is a %s key, not RSA", i, keyKind(k))
		}
		s.rsaKeys = append(s.rsaKeys, rk)
	}
	if len(s.edKeys) == 0 && len(s.rsaKeys) == 0 {
		return nil, fmt.Errorf("no public key configured (ed25519_public_keys or rsa_public_keys), and the endpoint is not unsigned: true")
	}
	return s, nil
}

// resolveKey reads a key given literally or as a reference (env:, file:).
// Under Check, a reference yields a stand-in key of the wanted kind.
func resolveKey(ref string, lookup SecretLookup, kind string) (any, error) {
	text := ref
	if isRef(ref) {
		v, err := lookup(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		if v == checkPlaceholder {
			if kind == "rsa" {
				return ParsePublicKey(GHLRSAPublicKey)
			}
			return make(ed25519.PublicKey, ed25519.PublicKeySize), nil
		}
		text = v
	}
	return ParsePublicKey(text)
}

func keyKind(k any) string {
	switch k.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}

func (s *ghlSource) Name() string { return "ghl" }

func (s *ghlSource) verify(h http.Header, body []byte) (Verification, *Error) {
	if s.unsigned {
		return Verification{Scheme: "none", KeyIndex: -1, Detail: "endpoint configured unsigned: true; signature not checked"}, nil
	}
	if sig := strings.TrimSpace(h.Get(HeaderGHLSignature)); sig != "" {
		ver := Verification{Scheme: "ed25519", KeyIndex: -1}
		if len(s.edKeys) == 0 {
			err := errorf(http.StatusUnauthorized, "%s present but no Ed25519 public key is configured (set ed25519_public_keys to GHL's webhook signature key)", strings.ToLower(HeaderGHLSignature))
			ver.Detail = err.Msg
			return ver, err
		}
		b, ok := decodeSig(sig, "base64")
		if !ok || len(b) != ed25519.SignatureSize {
			e := errorf(http.StatusUnauthorized, "%s is not a base64 Ed25519 signature", strings.ToLower(HeaderGHLSignature))
			ver.Detail = e.Msg
			return ver, e
		}
		for i, k := range s.edKeys {
			if ed25519.Verify(k, body, b) {
				ver.Verified, ver.KeyIndex = true, i
				ver.Detail = fmt.Sprintf("%s matched Ed25519 key #%d", strings.ToLower(HeaderGHLSignature), i+1)
				return ver, nil
			}
		}
		e := errorf(http.StatusUnauthorized, "%s does not verify the body with any configured Ed25519 key (%d checked)", strings.ToLower(HeaderGHLSignature), len(s.edKeys))
		ver.Detail = e.Msg
		return ver, e
	}
	ver := Verification{Scheme: "rsa-sha256", KeyIndex: -1}
	sig := strings.TrimSpace(h.Get(HeaderWHSignature))
	if sig == "" {
		e := errorf(http.StatusUnauthorized, "missing %s or %s header", strings.ToLower(HeaderGHLSignature), strings.ToLower(HeaderWHSignature))
		ver.Detail = e.Msg
		return ver, e
	}
	if len(s.rsaKeys) == 0 {
		e := errorf(http.StatusUnauthorized, "%s present but no RSA public key is configured (rsa_public_keys)", strings.ToLower(HeaderWHSignature))
		ver.Detail = e.Msg
		return ver, e
	}
	b, ok := decodeSig(sig, "base64")
	if !ok {
		e := errorf(http.StatusUnauthorized, "%s is not base64", strings.ToLower(HeaderWHSignature))
		ver.Detail = e.Msg
		return ver, e
	}
	digest := sha256.Sum256(body)
	for i, k := range s.rsaKeys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], b) == nil {
			ver.Verified, ver.KeyIndex = true, i
			ver.Detail = fmt.Sprintf("%s matched RSA key #%d", strings.ToLower(HeaderWHSignature), i+1)
			return ver, nil
		}
	}
	e := errorf(http.StatusUnauthorized, "%s does not verify the body with any configured RSA key (%d checked)", strings.ToLower(HeaderWHSignature), len(s.rsaKeys))
	ver.Detail = e.Msg
	return ver, e
}

// Receive implements Source.
func (s *ghlSource) Receive(r *http.Request, body []byte) (Event, error) {
	now := s.now().UTC()
	ver, verr := s.verify(r.Header, body)
	if verr != nil {
		return Event{}, verr
	}
	payload, err := DecodeJSON(body)
	if err != nil {
		return Event{}, err
	}
	ev := Event{
		Raw:          body,
		Payload:      payload,
		Headers:      recordHeaders(r.Header, []string{"content-type", "user-agent", HeaderGHLSignature, HeaderWHSignature}, nil),
		Verification: ver,
		Unsigned:     s.unsigned,
		OccurredAt:   now,
		ID:           lookupString(payload, "webhookId"),
	}
	if v, ok := payload["timestamp"]; ok && v != nil {
		ts, ok := parseTime(v)
		if !ok {
			return Event{}, errorf(http.StatusUnprocessableEntity, "\"timestamp\" is not an ISO 8601 time")
		}
		ev.OccurredAt = ts
		if ver.Verified {
			if err := checkSkew("\"timestamp\"", ts, now, s.tolerance); err != nil {
				return Event{}, err
			}
		}
	}
	typ, _ := payload["type"].(string)
	if providerMessageTypes[typ] {
		// ProviderOutboundMessage's "type" names the channel.
		typ = "ProviderOutboundMessage"
	}
	ev.Type = typ
	if s.types != nil && !s.types[ev.Type] {
		if ev.Type == "" {
			ev.Ignore = "delivery has no \"type\" field, so it matches none of this flow's types"
		} else {
			ev.Ignore = fmt.Sprintf("event type %q is not in this flow's types", ev.Type)
		}
	}
	return ev, nil
}
