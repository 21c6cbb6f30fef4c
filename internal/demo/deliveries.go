// Package demo runs ghlsync's main job on a machine with no account
// anywhere: the engine, the built-in GoHighLevel sandbox and the example
// flows in one process, fed with the sample ChangeTower, generic and
// GoHighLevel deliveries of testdata/events, signed as their real senders
// sign them and posted over HTTP. It then prints what the sandbox holds.
//
// The pieces are usable on their own: Client posts signed deliveries to any
// running ghlsync and reads its JSON API and a sandbox's admin API, which is
// how the end-to-end tests drive the real binaries.
package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ghlsync/ghlsync/internal/source/sign"
)

// Demo-only secrets. They are published in this repository, so they
// protect nothing: never configure a real endpoint with them.
const (
	// ChangeTowerSecret is the Standard Webhooks secret the demo's
	// ChangeTower deliveries are signed with (GHLSYNC_CHANGETOWER_SECRET).
	ChangeTowerSecret = "whsec_ZGVtby1vbmx5LWNoYW5nZXRvd2VyLXNlY3JldA=="
	// GenericSecret is the HMAC secret of the demo's generic deliveries
	// (GHLSYNC_GENERIC_SECRET).
	GenericSecret = "demo-only-generic-secret"
)

// Location and token of the sandbox's built-in seed that the demo acts
// through.
const (
	SandboxLocation = "sbx-location-1"
	SandboxToken    = "pit-sandbox-location"
)

// Delivery is one sample delivery of testdata/events/deliveries.json.
type Delivery struct {
	Flow   string `json:"flow"`
	File   string `json:"file"`
	Source string `json:"source"` // changetower, generic or ghl
	// DeliveryID is the ChangeTower webhook-id or the GHL webhookId; reusing
	// it on a replay makes the delivery recognisable as the same event.
	DeliveryID string `json:"delivery_id"`

	// Body is the file's content (an unsigned body).
	Body []byte `json:"-"`
}

// Samples are the sample deliveries, in posting order.
type Samples struct {
	Dir        string
	Deliveries []Delivery
}

// LoadSamples reads dir/deliveries.json and every body it lists. Errors
// name the file and what is wrong.
func LoadSamples(dir string) (*Samples, error) {
	index := filepath.Join(dir, "deliveries.json")
	b, err := os.ReadFile(index)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sample deliveries: %s not found", absPath(index))
		}
		return nil, fmt.Errorf("sample deliveries: %w", err)
	}
	var m struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("sample deliveries: %s: %w", index, err)
	}
	if len(m.Deliveries) == 0 {
		return nil, fmt.Errorf("sample deliveries: %s lists no delivery", index)
	}
	for i := range m.Deliveries {
		d := &m.Deliveries[i]
		if d.Flow == "" || d.File == "" {
			return nil, fmt.Errorf("sample deliveries: %s: delivery #%d needs \"flow\" and \"file\"", index, i+1)
		}
		switch d.Source {
		case "changetower", "ghl":
			if d.DeliveryID == "" {
				return nil, fmt.Errorf("sample deliveries: %s: delivery #%d (%s) is a %s delivery and needs \"delivery_id\"", index, i+1, d.File, d.Source)
			}
		case "generic":
		default:
			return nil, fmt.Errorf("sample deliveries: %s: delivery #%d (%s): unknown source %q (changetower, generic or ghl)", index, i+1, d.File, d.Source)
		}
		path := filepath.Join(dir, d.File)
		if d.Body, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("sample deliveries: delivery #%d: %w", i+1, err)
		}
		if !json.Valid(d.Body) {
			return nil, fmt.Errorf("sample deliveries: %s is not valid JSON", path)
		}
	}
	return &Samples{Dir: dir, Deliveries: m.Deliveries}, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Sign returns the headers a real sender attaches to d's body at time now:
// Standard Webhooks for ChangeTower (with the delivery id as webhook-id), a
// timestamped X-Ghlsync-Signature for generic events. GoHighLevel's own
// deliveries are signed by GoHighLevel (here: the sandbox), not by the demo.
func Sign(d Delivery, now time.Time) (http.Header, error) {
	switch d.Source {
	case "changetower":
		return sign.StandardWebhooks(d.DeliveryID, now, d.Body, ChangeTowerSecret)
	case "generic":
		return sign.Generic(GenericSecret, now, d.Body), nil
	}
	return nil, fmt.Errorf("%s: %s deliveries are signed by their sender, not by the demo", d.File, d.Source)
}
