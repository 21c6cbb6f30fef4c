package sandbox

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// WebhookOptions configure outgoing webhooks. With URL empty no webhook is
// sent (the URL can also be set at run time with PUT /_sandbox/webhooks).
type WebhookOptions struct {
	URL         string
	MaxAttempts int           // default 5
	Backoff     time.Duration // first retry delay, doubled each time; default 1s
	Timeout     time.Duration // per delivery attempt; default 10s
	Client      *http.Client  // default: a client with Timeout
}

// signingKeys sign webhook bodies like GHL: RSA-SHA256 (x-wh-signature) and
// Ed25519 (x-ghl-signature). They are the sandbox's own keys.
type signingKeys struct {
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
}

func generateKeys() (*signingKeys, error) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate RSA key: %w", err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generate Ed25519 key: %w", err)
	}
	return &signingKeys{rsa: rk, ed: ek}, nil
}

func loadKeys(p *persistedKeys) (*signingKeys, error) {
	blk, _ := pem.Decode([]byte(p.RSAPrivatePEM))
	if blk == nil {
		return nil, fmt.Errorf("keys.rsaPrivateKeyPem is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keys.rsaPrivateKeyPem: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keys.rsaPrivateKeyPem is not an RSA key")
	}
	seed, err := base64.StdEncoding.DecodeString(p.Ed25519PrivateB64)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keys.ed25519PrivateKey must be a base64 %d-byte seed", ed25519.SeedSize)
	}
	return &signingKeys{rsa: rk, ed: ed25519.NewKeyFromSeed(seed)}, nil
}

func (k *signingKeys) persisted() *persistedKeys {
	der, _ := x509.MarshalPKCS8PrivateKey(k.rsa)
	return &persistedKeys{
		RSAPrivatePEM:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Ed25519PrivateB64: base64.StdEncoding.EncodeToString(k.ed.Seed()),
	}
}

// PublicKeys are the keys a receiver uses to verify the sandbox's webhooks.
type PublicKeys struct {
	// RSAPublicKeyPEM verifies x-wh-signature (SPKI PEM, like GHL publishes).
	RSAPublicKeyPEM string `json:"rsaPublicKeyPem"`
	// Ed25519PublicKeyPEM verifies x-ghl-signature (SPKI PEM).
	Ed25519PublicKeyPEM string `json:"ed25519PublicKeyPem"`
	// Ed25519PublicKeyBase64 is the raw 32-byte key, base64.
	Ed25519PublicKeyBase64 string `json:"ed25519PublicKeyBase64"`
}

func (k *signingKeys) public() PublicKeys {
	rder, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	pub := k.ed.Public().(ed25519.PublicKey)
	eder, _ := x509.MarshalPKIXPublicKey(pub)
	return PublicKeys{
		RSAPublicKeyPEM:        string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rder})),
		Ed25519PublicKeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: eder})),
		Ed25519PublicKeyBase64: base64.StdEncoding.EncodeToString(pub),
	}
}

// sign returns the two signature headers for body (the exact bytes sent).
func (k *signingKeys) sign(body []byte) (wh, ghl string, err error) {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(nil, k.rsa, crypto.SHA256, sum[:])
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(ed25519.Sign(k.ed, body)), nil
}

// Keys returns the webhook verification keys.
func (s *Server) Keys() PublicKeys { return s.keys.public() }

// webhookEvent is one outgoing event before signing.
type webhookEvent map[string]any

// WebhookDelivery records one delivered (or abandoned) webhook.
type WebhookDelivery struct {
	WebhookID string    `json:"webhookId"`
	Type      string    `json:"type"`
	URL       string    `json:"url"`
	Attempts  int       `json:"attempts"`
	Status    int       `json:"status"` // last HTTP status, 0 when no response
	Error     string    `json:"error,omitempty"`
	Delivered bool      `json:"delivered"`
	Time      time.Time `json:"time"`
}

// webhookSender delivers events in order from one goroutine so the API never
// waits for a receiver; failed deliveries are retried with backoff.
type webhookSender struct {
	opts  WebhookOptions
	keys  *signingKeys
	log   *slog.Logger
	now   func() time.Time
	queue chan webhookEvent
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex
	url  string
	hist []WebhookDelivery
}

func newWebhookSender(o WebhookOptions, k *signingKeys, log *slog.Logger, now func() time.Time) *webhookSender {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	w := &webhookSender{opts: o, keys: k, log: log, now: now, url: o.URL,
		queue: make(chan webhookEvent, 10000), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *webhookSender) setURL(u string) {
	w.mu.Lock()
	w.url = u
	w.mu.Unlock()
}

func (w *webhookSender) currentURL() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.url
}

// send queues an event; it never blocks the API (a full queue drops the
// event and logs it).
func (w *webhookSender) send(e webhookEvent) {
	if w.currentURL() == "" {
		return
	}
	select {
	case w.queue <- e:
	default:
		w.log.Warn("sandbox: webhook queue full, event dropped", "type", e["type"])
	}
}

func (w *webhookSender) close(drain time.Duration) {
	close(w.stop)
	select {
	case <-w.done:
	case <-time.After(drain):
	}
}

func (w *webhookSender) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			// deliver what is queued without retries, then stop
			for {
				select {
				case e := <-w.queue:
					w.deliver(e, 1)
				default:
					return
				}
			}
		case e := <-w.queue:
			w.deliver(e, w.opts.MaxAttempts)
		}
	}
}

func (w *webhookSender) deliver(e webhookEvent, attempts int) {
	url := w.currentURL()
	if url == "" {
		return
	}
	body, err := json.Marshal(e)
	if err != nil {
		w.log.Error("sandbox: encode webhook", "err", err)
		return
	}
	wh, ghl, err := w.keys.sign(body)
	if err != nil {
		w.log.Error("sandbox: sign webhook", "err", err)
		return
	}
	d := WebhookDelivery{WebhookID: fmt.Sprint(e["webhookId"]), Type: fmt.Sprint(e["type"]), URL: url}
	backoff := w.opts.Backoff
	for i := 1; i <= attempts; i++ {
		d.Attempts = i
		d.Status, err = w.post(url, body, wh, ghl)
		if err == nil && d.Status >= 200 && d.Status < 300 {
			d.Delivered, d.Error = true, ""
			break
		}
		if err != nil {
			d.Error = err.Error()
		} else {
			d.Error = fmt.Sprintf("receiver answered %d", d.Status)
		}
		if i == attempts {
			w.log.Warn("sandbox: webhook not delivered", "type", d.Type, "attempts", i, "err", d.Error)
			break
		}
		select {
		case <-time.After(backoff):
		case <-w.stop:
			attempts = i // stop retrying on shutdown
		}
		backoff *= 2
	}
	d.Time = w.now().UTC()
	w.mu.Lock()
	w.hist = append(w.hist, d)
	if len(w.hist) > 1000 {
		w.hist = w.hist[len(w.hist)-1000:]
	}
	w.mu.Unlock()
}

func (w *webhookSender) post(url string, body []byte, wh, ghl string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ghlsync-sandbox-webhooks")
	req.Header.Set("x-wh-signature", wh)
	req.Header.Set("x-ghl-signature", ghl)
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (w *webhookSender) history() []WebhookDelivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WebhookDelivery(nil), w.hist...)
}

// emit queues a webhook of the given type; the payload gets GHL's common
// fields. Called by handlers with the state lock held; delivery happens
// after the response is decided.
func (c *call) emit(typ string, payload record) {
	e := webhookEvent{}
	for k, v := range payload {
		e[k] = clone(v)
	}
	e["type"] = typ
	if _, ok := e["locationId"]; !ok && c.loc != "" {
		e["locationId"] = c.loc
	}
	e["webhookId"] = randomUUID()
	e["timestamp"] = isoMillis(c.now)
	c.evts = append(c.evts, e)
}
