package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/internal/piicodec"
	"github.com/xcally-connector/connector/workflows"
)

// piiCodec is the payload codec of PII_CODEC_KEYS.
func piiCodec(cfg *config.Config) (*piicodec.Codec, error) {
	keys := make([]piicodec.Key, len(cfg.CodecKeys))
	for i, k := range cfg.CodecKeys {
		keys[i] = piicodec.Key{ID: k.ID, Key: k.Key}
	}
	c, err := piicodec.New(keys)
	if err != nil {
		return nil, &config.Error{Var: piicodec.KeysVar, Msg: err.Error()}
	}
	return c, nil
}

// piiConverters are the data and failure converters of every Temporal
// client: api, worker and dev must encode alike. Config.Validate has
// checked the keys, so an error here is a wiring bug.
func piiConverters(cfg *config.Config) (converter.DataConverter, converter.FailureConverter) {
	c, err := piiCodec(cfg)
	if err != nil {
		panic(fmt.Sprintf("temporal client without a valid payload codec (config not validated?): %v", err))
	}
	dc := c.DataConverter()
	return dc, piicodec.FailureConverter(dc)
}

// identities is how contact identities appear in workflow ids and search
// attributes (PII_HASH_IDENTITIES): hashed with the PII_HASH_KEY_ID key,
// never the current key of SECRET_KEYS, so a rotation keeps the workflow
// ids of running conversations. Config.Validate has checked the key, so an
// error here is a wiring bug: identities in clear would start other
// workflows.
func identities(cfg *config.Config) workflows.Identities {
	if !cfg.HashIdentities {
		return workflows.Identities{}
	}
	k, err := cfg.IdentityKey()
	if err != nil {
		panic(fmt.Sprintf("identity hash without its key (config not validated?): %v", err))
	}
	return workflows.Identities{HashKey: workflows.IdentityHashKey(k.Key)}
}

// SearchKey prints what stands for identity in the Temporal UI with
// PII_HASH_IDENTITIES on, and the visibility query that finds its
// conversations (`connector search-key +39…`).
func SearchKey(cfg *config.Config, identity string, out io.Writer) error {
	identity = strings.TrimSpace(identity)
	if identity == "" {
		return errors.New("usage: connector search-key <identity> (a phone number such as +393331234567, or an Instagram id)")
	}
	if !cfg.HashIdentities {
		// Sinch's WhatsApp identities are numbers without "+" or spaces.
		clear := strings.TrimPrefix(strings.Join(strings.Fields(identity), ""), "+")
		return &config.Error{Var: "PII_HASH_IDENTITIES", Msg: fmt.Sprintf("is off: identities are in clear in the Temporal UI, search for ContactIdentity=%q (set PII_HASH_IDENTITIES=true, as the service has it, to hash them)", clear)}
	}
	if len(cfg.SecretKeyRing()) == 0 {
		// dev keeps its generated key there; nothing is created here.
		path := filepath.Join(cfg.DataDir, "secret.key")
		raw, err := os.ReadFile(path)
		if err != nil {
			return &config.Error{Var: "SECRET_KEY", Msg: "required (or SECRET_KEYS and PII_HASH_KEY_ID): the identity hash is keyed by the service's key (and " + path + " of dev is not there)"}
		}
		if cfg.SecretKey, err = config.ParseSecretKey(strings.TrimSpace(string(raw))); err != nil {
			return &config.Error{Var: "SECRET_KEY", Msg: path + ": " + err.Error()}
		}
	}
	if _, err := cfg.IdentityKey(); err != nil {
		return err
	}
	key := identities(cfg).Key(identity)
	_, err := fmt.Fprintf(out, "%s\n\nTemporal UI search (Workflows, query):\n  ContactIdentity=%q\n", key, key)
	return err
}

// PIICodec is the payload codec of the dev stack, the one its clients
// encrypt with: for tools and tests that read raw histories.
func (d *Dev) PIICodec() (*piicodec.Codec, error) { return piiCodec(d.cfg) }
