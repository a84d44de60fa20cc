package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestFS(t *testing.T) *FS {
	t.Helper()
	s, err := NewFS(filepath.Join(t.TempDir(), "media"), 0)
	require.NoError(t, err)
	return s
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	}))
	return out
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFSRoundTrip(t *testing.T) {
	s := newTestFS(t)
	data := sample(t, "sample.pdf")
	obj, err := s.Put(context.Background(), bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	assert.Equal(t, sum(data), obj.Key)
	assert.Equal(t, obj.Key, obj.SHA256)
	assert.Equal(t, int64(len(data)), obj.Size)
	assert.Equal(t, data[:min(len(data), SniffLen)], obj.Head)

	// Layout dir/ab/cd/<sha256>; nothing left in tmp/.
	assert.Equal(t, []string{filepath.Join(obj.Key[:2], obj.Key[2:4], obj.Key)}, files(t, s.Dir()))
	fi, err := os.Stat(filepath.Join(s.Dir(), obj.Key[:2]))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), fi.Mode().Perm())

	r, size, err := s.Open(obj.Key)
	require.NoError(t, err)
	assert.Equal(t, obj.Size, size)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	_, err = r.Seek(4, io.SeekStart)
	require.NoError(t, err)
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, data[4:], rest)
	require.NoError(t, r.Close())

	require.NoError(t, s.Delete(obj.Key))
	_, _, err = s.Open(obj.Key)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.NoError(t, s.Delete(obj.Key), "deleting an absent key is not an error")
}

func TestFSHeadIsSniffLen(t *testing.T) {
	s := newTestFS(t)
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes
	obj, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20)
	require.NoError(t, err)
	assert.Equal(t, data[:SniffLen], obj.Head)
	assert.Equal(t, int64(len(data)), obj.Size)
}

func TestFSDedupe(t *testing.T) {
	s := newTestFS(t)
	data := sample(t, "sample.png")
	a, err := s.Put(context.Background(), bytes.NewReader(data), 1<<20)
	require.NoError(t, err)
	// A slow reader that hands out one byte at a time stores the same.
	b, err := s.Put(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), 1<<20)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Len(t, files(t, s.Dir()), 1, "identical content is stored once, tmp/ left empty")

	c, err := s.Put(context.Background(), bytes.NewReader(append(data, 0)), 1<<20)
	require.NoError(t, err)
	assert.NotEqual(t, a.Key, c.Key)
	assert.Len(t, files(t, s.Dir()), 2)
}

// StoredAt is when the content was last Put: storing identical content
// again refreshes it (a release deciding on it sees the content in use),
// and content deleted meanwhile is stored again.
func TestFSStoredAt(t *testing.T) {
	s := newTestFS(t)
	ctx := context.Background()
	a, err := s.Put(ctx, strings.NewReader("same"), 100)
	require.NoError(t, err)
	at, err := s.StoredAt(a.Key)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), at, time.Minute)

	old := time.Now().Add(-100 * 24 * time.Hour)
	path := filepath.Join(s.Dir(), a.Key[0:2], a.Key[2:4], a.Key)
	require.NoError(t, os.Chtimes(path, old, old))
	at, err = s.StoredAt(a.Key)
	require.NoError(t, err)
	assert.WithinDuration(t, old, at, time.Second)

	_, err = s.Put(ctx, strings.NewReader("same"), 100)
	require.NoError(t, err)
	at, err = s.StoredAt(a.Key)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), at, time.Minute, "a second Put refreshes it")
	assert.Len(t, files(t, s.Dir()), 1)

	require.NoError(t, s.Delete(a.Key))
	_, err = s.StoredAt(a.Key)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.Put(ctx, strings.NewReader("same"), 100)
	require.NoError(t, err)
	f, _, err := s.Open(a.Key)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Equal(t, "same", string(b))
}

func TestFSTooLargeKeepsNothing(t *testing.T) {
	s := newTestFS(t)
	data := bytes.Repeat([]byte{7}, 100*KiB)
	_, err := s.Put(context.Background(), bytes.NewReader(data), int64(len(data))-1)
	var tl *TooLargeError
	require.True(t, errors.As(err, &tl), "want *TooLargeError, got %v", err)
	assert.Equal(t, int64(len(data))-1, tl.Max)
	assert.Empty(t, files(t, s.Dir()))
	entries, err := os.ReadDir(s.Dir())
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "tmp", entries[0].Name(), "only the empty tmp/ is left")

	// Exactly at the limit is fine; a zero limit takes only empty files.
	_, err = s.Put(context.Background(), bytes.NewReader(data), int64(len(data)))
	assert.NoError(t, err)
	_, err = s.Put(context.Background(), strings.NewReader("x"), 0)
	assert.True(t, errors.As(err, &tl))
	empty, err := s.Put(context.Background(), strings.NewReader(""), 0)
	require.NoError(t, err)
	assert.Equal(t, sum(nil), empty.Key)
	assert.Zero(t, empty.Size)
}

func TestFSDiskGuard(t *testing.T) {
	s := newTestFS(t)
	free, minFree, err := s.Free()
	require.NoError(t, err)
	require.NotZero(t, free)
	assert.Zero(t, minFree)

	s.SetMinFree(free + 1<<30)
	_, gotMin, err := s.Free()
	require.NoError(t, err)
	assert.Equal(t, free+1<<30, gotMin)
	_, err = s.Put(context.Background(), strings.NewReader("hello"), 100)
	var low *DiskLowError
	require.True(t, errors.As(err, &low), "want *DiskLowError, got %v", err)
	assert.Contains(t, err.Error(), "disk space low on the connector")
	assert.Equal(t, s.Dir(), low.Dir)
	assert.Equal(t, free+1<<30, low.Min)
	assert.Empty(t, files(t, s.Dir()), "nothing written")

	s.SetMinFree(0)
	_, err = s.Put(context.Background(), strings.NewReader("hello"), 100)
	assert.NoError(t, err)
}

// guardFlipper raises the store's guard once more than after bytes were
// read, as if the disk filled up during the upload.
type guardFlipper struct {
	r     io.Reader
	s     *FS
	after int
	read  int
}

func (g *guardFlipper) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.read += n
	if g.read > g.after {
		g.s.SetMinFree(1 << 62)
	}
	return n, err
}

func TestFSDiskGuardDuringWrite(t *testing.T) {
	s := newTestFS(t)
	data := bytes.Repeat([]byte{1}, 3*MiB)
	_, err := s.Put(context.Background(), &guardFlipper{r: bytes.NewReader(data), s: s, after: MiB / 2}, int64(len(data)))
	var low *DiskLowError
	require.True(t, errors.As(err, &low), "want *DiskLowError, got %v", err)
	assert.Empty(t, files(t, s.Dir()), "temporary file removed")
}

// cancelAfter cancels ctx once more than after bytes were read.
type cancelAfter struct {
	r      io.Reader
	cancel context.CancelFunc
	after  int
	read   int
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.read > c.after {
		c.cancel()
	}
	return n, err
}

func TestFSPutRespectsContext(t *testing.T) {
	s := newTestFS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data := bytes.Repeat([]byte{2}, MiB)
	_, err := s.Put(ctx, &cancelAfter{r: bytes.NewReader(data), cancel: cancel, after: 64 * KiB}, MiB)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, files(t, s.Dir()))

	_, err = s.Put(ctx, bytes.NewReader(data), MiB)
	assert.ErrorIs(t, err, context.Canceled, "already cancelled")
}

func TestFSReadErrorKeepsNothing(t *testing.T) {
	s := newTestFS(t)
	boom := errors.New("connection reset")
	_, err := s.Put(context.Background(), io.MultiReader(strings.NewReader("partial"), errReader{boom}), 100)
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, files(t, s.Dir()))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestFSBadKeysAreNotFound(t *testing.T) {
	s := newTestFS(t)
	obj, err := s.Put(context.Background(), strings.NewReader("secret"), 100)
	require.NoError(t, err)
	// A file outside the layout that traversal would reach.
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(s.Dir()), "outside"), []byte("x"), 0o600))

	for _, key := range []string{
		"",
		"../outside",
		"../../outside",
		"/etc/passwd",
		strings.ToUpper(obj.Key),
		obj.Key[:63],
		obj.Key + "0",
		obj.Key[:62] + "/.",
		obj.Key[:60] + "%2e%2e",
		"tmp",
		strings.Repeat("g", 64),
		strings.Repeat(".", 64),
		"..\\..\\outside",
	} {
		_, _, err := s.Open(key)
		assert.ErrorIs(t, err, ErrNotFound, "Open(%q)", key)
		_, err = s.StoredAt(key)
		assert.ErrorIs(t, err, ErrNotFound, "StoredAt(%q)", key)
		assert.ErrorIs(t, s.Delete(key), ErrNotFound, "Delete(%q)", key)
	}
	_, err = os.Stat(filepath.Join(filepath.Dir(s.Dir()), "outside"))
	assert.NoError(t, err, "nothing outside the store was deleted")
	_, _, err = s.Open(obj.Key)
	assert.NoError(t, err, "the real key still opens")
	_, _, err = s.Open(strings.Repeat("0", 64))
	assert.ErrorIs(t, err, ErrNotFound, "a valid but absent key")
}

func TestNewFS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := NewFS(dir, 123)
	require.NoError(t, err)
	assert.Equal(t, dir, s.Dir())
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), fi.Mode().Perm())
	_, minFree, err := s.Free()
	require.NoError(t, err)
	assert.Equal(t, uint64(123), minFree)

	_, err = NewFS("", 0)
	assert.Error(t, err)
}
