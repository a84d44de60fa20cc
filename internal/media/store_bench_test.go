package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchFile is the size of a video at WhatsApp's limit.
const benchFile = 16 * MiB

// BenchmarkFSPut stores a 16 MiB file (hash, fsync, rename) with the disk
// guard on; BenchmarkPlainWrite is the baseline of the same bytes written
// and fsynced to a file. B/op shows the file is streamed, not buffered.
func BenchmarkFSPut(b *testing.B) {
	data := make([]byte, benchFile)
	_, _ = rand.Read(data)
	fs, err := NewFS(b.TempDir(), 1)
	require.NoError(b, err)
	b.SetBytes(benchFile)
	b.ReportAllocs()
	var last Object
	for b.Loop() {
		data[0]++ // a new key each time: no dedupe shortcut
		last, err = fs.Put(context.Background(), bytes.NewReader(data), benchFile)
		require.NoError(b, err)
	}
	// What was measured is a real store: the last file is whole, under
	// its content's key.
	sum := sha256.Sum256(data)
	require.Equal(b, hex.EncodeToString(sum[:]), last.Key, "stored under its content's key")
	require.EqualValues(b, benchFile, last.Size)
	f, size, err := fs.Open(last.Key)
	require.NoError(b, err)
	require.EqualValues(b, benchFile, size, "the stored file is whole")
	_ = f.Close()
}

func BenchmarkPlainWrite(b *testing.B) {
	data := make([]byte, benchFile)
	_, _ = rand.Read(data)
	dir := b.TempDir()
	b.SetBytes(benchFile)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		f, err := os.Create(filepath.Join(dir, "f"+string(rune('a'+i%26))))
		require.NoError(b, err)
		_, err = bytes.NewReader(data).WriteTo(f)
		require.NoError(b, err)
		require.NoError(b, f.Sync())
		st, err := f.Stat()
		require.NoError(b, err)
		require.EqualValues(b, benchFile, st.Size(), "the whole file was written")
		_ = f.Close()
	}
}
