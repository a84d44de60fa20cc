package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// crockford is the base32 alphabet of ULIDs.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID returns a 26-character ULID (48-bit millisecond time, 80 random
// bits), the id format Sinch uses for messages, contacts and conversations.
func newULID(t time.Time) string {
	var b [16]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(b[:6], ms[2:])
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	out := make([]byte, 26)
	// 26 characters hold 130 bits: the value is left-padded with two zero bits.
	for i := range out {
		v := 0
		for j := range 5 {
			bit := i*5 - 2 + j
			v <<= 1
			if bit >= 0 && b[bit/8]&(0x80>>(bit%8)) != 0 {
				v |= 1
			}
		}
		out[i] = crockford[v]
	}
	return string(out)
}

// newToken returns a random opaque access token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
