package app

import "github.com/xcally-connector/connector/internal/piicodec"

// PIICodec is the payload codec of the dev stack, for tests that read raw
// histories.
func (d *Dev) PIICodec() (*piicodec.Codec, error) { return piiCodec(d.cfg) }
