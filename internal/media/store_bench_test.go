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
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchFile)
	b.ReportAllocs()
	var last Object
	for b.Loop() {
		data[0]++ // a new key each time: no dedupe shortcut
		if last, err = fs.Put(context.Background(), bytes.NewReader(data), benchFile); err != nil {
			b.Fatal(err)
		}
	}
	// What was measured is a real store: the last file is whole, under
	// its content's key.
	sum := sha256.Sum256(data)
	if last.Key != hex.EncodeToString(sum[:]) || last.Size != benchFile {
		b.Fatalf("stored %s (%d bytes), want %x (%d bytes)", last.Key, last.Size, sum, benchFile)
	}
	f, size, err := fs.Open(last.Key)
	if err != nil || size != benchFile {
		b.Fatalf("open stored file: %v (size %d)", err, size)
	}
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
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bytes.NewReader(data).WriteTo(f); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if st, err := f.Stat(); err != nil || st.Size() != benchFile {
			b.Fatalf("wrote %v bytes (%v), want %d", st, err, benchFile)
		}
		_ = f.Close()
	}
}
