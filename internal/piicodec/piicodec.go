// Package piicodec keeps personal data (message text, media URLs, contact
// names, error texts) out of Temporal's history: a converter.PayloadCodec
// that encrypts each whole payload with AES-256-GCM before it leaves the
// process, naming the key in the payload metadata so keys can rotate.
//
// Payloads without the encrypted encoding pass through Decode unchanged, so
// histories written before the codec was turned on still replay. It
// imports nothing of this module; the keys come from its caller.
package piicodec

import (
	"errors"
	"fmt"
	"regexp"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/xcally-connector/connector/internal/secretbox"
)

// Metadata of an encrypted payload.
const (
	// MetadataEncoding is the standard payload metadata key of the encoding.
	MetadataEncoding = converter.MetadataEncoding
	// EncodingEncrypted marks a payload encrypted by this codec.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// KeysVar is the configuration variable holding the keys.
	KeysVar = "PII_CODEC_KEYS"
)

// Key is one AES-256 key and the id that names it in payload metadata.
type Key struct {
	ID  string
	Key []byte
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidKeyID reports whether id can name a key (letters, digits, . _ -; at
// most 64).
func ValidKeyID(id string) bool { return keyIDPattern.MatchString(id) }

// Codec encrypts with its current key and decrypts with any of its keys.
// Each key is a secretbox.Box (the AES-256-GCM of the secrets at rest),
// with the key id as additional data.
type Codec struct {
	current string
	boxes   map[string]*secretbox.Box
}

// New builds the codec of keys: the first one encrypts, every one
// decrypts (the older keys of a rotation).
func New(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("piicodec: no key")
	}
	c := &Codec{current: keys[0].ID, boxes: make(map[string]*secretbox.Box, len(keys))}
	for _, k := range keys {
		if !ValidKeyID(k.ID) {
			return nil, fmt.Errorf("piicodec: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", k.ID)
		}
		if _, dup := c.boxes[k.ID]; dup {
			return nil, fmt.Errorf("piicodec: key id %q given twice", k.ID)
		}
		if len(k.Key) != 32 {
			return nil, fmt.Errorf("piicodec: key %q: want 32 bytes, got %d", k.ID, len(k.Key))
		}
		box, err := secretbox.New(k.Key)
		if err != nil {
			return nil, fmt.Errorf("piicodec: key %q: %w", k.ID, err)
		}
		c.boxes[k.ID] = box
	}
	return c, nil
}

// CurrentKeyID is the id of the key new payloads are encrypted with.
func (c *Codec) CurrentKeyID() string { return c.current }

// Encode encrypts every payload whole (data and metadata) with the current
// key. The key id is also the AEAD's additional data, so a payload cannot
// be relabelled with another key's id.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	box := c.boxes[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("piicodec: marshal payload: %w", err)
		}
		sealed, err := box.SealBytes(plain, []byte(c.current))
		if err != nil {
			return nil, fmt.Errorf("piicodec: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(c.current),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode decrypts the payloads this codec encrypted, with the key their
// metadata names; any other payload is returned as it is.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		box, ok := c.boxes[id]
		if !ok {
			return nil, fmt.Errorf("piicodec: payload encrypted with key id %q, which is not configured: add that key to %s (after the current key)", id, KeysVar)
		}
		data := p.GetData()
		if len(data) < box.Overhead() {
			return nil, fmt.Errorf("piicodec: payload of key %q is truncated (%d bytes)", id, len(data))
		}
		plain, err := box.OpenBytes(data, []byte(id))
		if err != nil {
			return nil, fmt.Errorf("piicodec: payload of key %q does not decrypt (wrong key bytes for that id, or tampered data)", id)
		}
		dec := &commonpb.Payload{}
		if err := proto.Unmarshal(plain, dec); err != nil {
			return nil, fmt.Errorf("piicodec: payload of key %q: %w", id, err)
		}
		out[i] = dec
	}
	return out, nil
}

// DataConverter is the SDK's default converter with this codec behind it.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter moves failure messages and stack traces into an encoded
// payload, so error texts carrying personal data are encrypted too. dc must
// be the client's DataConverter.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}
