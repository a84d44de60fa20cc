package media

import (
	"bytes"
	"context"
	"crypto/rand"
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
	for b.Loop() {
		data[0]++ // a new key each time: no dedupe shortcut
		if _, err := fs.Put(context.Background(), bytes.NewReader(data), benchFile); err != nil {
			b.Fatal(err)
		}
	}
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
		_ = f.Close()
	}
}
