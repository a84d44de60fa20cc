package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Object is one stored file.
type Object struct {
	// Key names the file in the Store: its SHA-256, in lower-case hex.
	Key    string
	Size   int64
	SHA256 string
	// Head is the first min(Size, SniffLen) bytes, for Detect.
	Head []byte
}

// ErrNotFound: no file is stored under the key (never stored, deleted, or
// not a valid key).
var ErrNotFound = errors.New("media: not found")

// DiskLowError: free space is below the guard threshold; retryable (free
// space, then retry).
type DiskLowError struct {
	Dir       string
	Free, Min uint64
}

// Error says the disk is low, how low, and what to do; it always contains
// "disk space low on the connector".
func (e *DiskLowError) Error() string {
	return fmt.Sprintf("disk space low on the connector: %s has %s free, below the %s kept free for media; free some space, then retry",
		e.Dir, FormatSize(int64(min(e.Free, 1<<62))), FormatSize(int64(min(e.Min, 1<<62))))
}

// TooLargeError: more than max bytes were offered.
type TooLargeError struct {
	Max int64
}

// Error names the limit that was exceeded.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("media file too large: over the %s (%d bytes) accepted", FormatSize(e.Max), e.Max)
}

// Store keeps file contents, outside Temporal: workflows carry only keys.
type Store interface {
	// Put stores r's bytes (at most max; more → *TooLargeError, nothing
	// kept). Identical content is stored once; storing it again refreshes
	// its StoredAt.
	Put(ctx context.Context, r io.Reader, max int64) (Object, error)
	// Open returns the stored bytes of key and their size; ErrNotFound when
	// absent (deleted).
	Open(key string) (io.ReadSeekCloser, int64, error)
	// StoredAt is when key's content was last Put; ErrNotFound when absent.
	StoredAt(key string) (time.Time, error)
	// Delete removes key; deleting an absent key is not an error.
	Delete(key string) error
	// Free is the free space (bytes) and the guard threshold.
	Free() (free, min uint64, err error)
}

// FS is a Store on a local directory, content-addressed: a file lives at
// dir/ab/cd/<sha256> (ab and cd its first hex digits), written first under
// dir/tmp/, synced, then renamed into place, so a key never names a
// partial file. It refuses to write while the file system has less than
// the guard threshold free.
type FS struct {
	dir     string
	minFree atomic.Uint64
}

var _ Store = (*FS)(nil)

// Directory and file permissions: the connector's user only, group read.
const (
	dirPerm = 0o750
	tmpDir  = "tmp"
	// diskCheckEvery is how often, in bytes written, Put re-checks the
	// free space, so one large upload cannot fill the disk.
	diskCheckEvery = 1 * MiB
	copyBuf        = 32 * KiB
)

// NewFS opens (creating with 0o750 when needed) a store in dir that keeps
// at least minFree bytes free on its file system; 0 disables the guard.
func NewFS(dir string, minFree uint64) (*FS, error) {
	if dir == "" {
		return nil, errors.New("media: store directory not set")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("media: store directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), dirPerm); err != nil {
		return nil, fmt.Errorf("media: create store directory: %w", err)
	}
	f := &FS{dir: abs}
	f.minFree.Store(minFree)
	return f, nil
}

// SetMinFree changes the guard threshold (0 disables it); safe to call
// while files are being written.
func (f *FS) SetMinFree(n uint64) { f.minFree.Store(n) }

// Dir is the store's directory (absolute).
func (f *FS) Dir() string { return f.dir }

// Free is the space available to the connector's user on the store's file
// system and the guard threshold.
func (f *FS) Free() (free, min uint64, err error) {
	free, err = freeSpace(f.dir)
	return free, f.minFree.Load(), err
}

// checkDisk returns a *DiskLowError when the guard is on and free space is
// below it.
func (f *FS) checkDisk() error {
	minFree := f.minFree.Load()
	if minFree == 0 {
		return nil
	}
	free, err := freeSpace(f.dir)
	if err != nil {
		return fmt.Errorf("media: free space of %s: %w", f.dir, err)
	}
	if free < minFree {
		return &DiskLowError{Dir: f.dir, Free: free, Min: minFree}
	}
	return nil
}

// Put stores r's bytes, at most limit of them (0 or less allows only an
// empty file): more gives a *TooLargeError and nothing is kept. Before
// writing, and again after every MiB written, it checks the free space and
// gives a *DiskLowError (nothing kept) when it is low. Cancelling ctx stops
// the copy. Storing content already stored returns the same Object and
// keeps one copy, whose modification time (StoredAt) becomes now.
func (f *FS) Put(ctx context.Context, r io.Reader, limit int64) (Object, error) {
	limit = max(limit, 0)
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	if err := f.checkDisk(); err != nil {
		return Object{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(f.dir, tmpDir), "put-*")
	if err != nil {
		return Object{}, fmt.Errorf("media: create temporary file: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	h := sha256.New()
	head := make([]byte, 0, SniffLen)
	size, err := f.copy(ctx, io.MultiWriter(tmp, h), &head, r, limit)
	if err != nil {
		return Object{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Object{}, fmt.Errorf("media: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return Object{}, fmt.Errorf("media: close %s: %w", tmp.Name(), err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	obj := Object{Key: sum, Size: size, SHA256: sum, Head: head}
	final := f.path(sum)
	if _, err := os.Lstat(final); err == nil {
		// Already stored: the deferred cleanup drops the copy. The stored
		// file's time becomes now, so a release deciding on its StoredAt
		// sees that this content is in use again; a file deleted since the
		// Lstat is stored again from the copy.
		now := time.Now()
		err := os.Chtimes(final, now, now)
		if err == nil {
			return obj, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return Object{}, fmt.Errorf("media: refresh %s: %w", sum, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(final), dirPerm); err != nil {
		return Object{}, fmt.Errorf("media: create %s: %w", filepath.Dir(final), err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Object{}, fmt.Errorf("media: store %s: %w", sum, err)
	}
	keep = true
	// Sync the directory so the rename survives a crash.
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return obj, nil
}

// copy copies r into w until EOF, refusing more than limit bytes, keeping the
// first SniffLen bytes in head, and checking ctx and the free space as it
// goes.
func (f *FS) copy(ctx context.Context, w io.Writer, head *[]byte, r io.Reader, limit int64) (int64, error) {
	buf := make([]byte, copyBuf)
	var n, sinceCheck int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// Read one byte past limit to tell "at the limit" from "over it"
		// (rem+1 cannot overflow: rem < want).
		want := int64(len(buf))
		if rem := limit - n; rem < want {
			want = rem + 1
		}
		k, rerr := r.Read(buf[:want])
		if k > 0 {
			if int64(k) > limit-n {
				return n, &TooLargeError{Max: limit}
			}
			if room := SniffLen - len(*head); room > 0 {
				*head = append(*head, buf[:min(k, room)]...)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return n, fmt.Errorf("media: write: %w", err)
			}
			n += int64(k)
			sinceCheck += int64(k)
			if sinceCheck >= diskCheckEvery {
				sinceCheck = 0
				if err := f.checkDisk(); err != nil {
					return n, err
				}
			}
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, fmt.Errorf("media: read: %w", rerr)
		}
	}
}

// Open returns the file stored under key and its size; ErrNotFound when
// there is none or key is not a SHA-256 in lower-case hex.
func (f *FS) Open(key string) (io.ReadSeekCloser, int64, error) {
	if !validKey(key) {
		return nil, 0, ErrNotFound
	}
	file, err := os.Open(f.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("media: open %s: %w", key, err)
	}
	st, err := file.Stat()
	if err != nil {
		_ = file.Close()
		return nil, 0, fmt.Errorf("media: stat %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		_ = file.Close()
		return nil, 0, ErrNotFound
	}
	return file, st.Size(), nil
}

// StoredAt is when the file under key was last Put (its modification
// time); ErrNotFound when there is none or key is not a SHA-256 in
// lower-case hex.
func (f *FS) StoredAt(key string) (time.Time, error) {
	if !validKey(key) {
		return time.Time{}, ErrNotFound
	}
	st, err := os.Lstat(f.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("media: stat %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		return time.Time{}, ErrNotFound
	}
	return st.ModTime(), nil
}

// Delete removes the file stored under key; an absent key is not an error,
// an invalid one is ErrNotFound. Readers that opened it before keep their
// copy until they close it.
func (f *FS) Delete(key string) error {
	if !validKey(key) {
		return ErrNotFound
	}
	if err := os.Remove(f.path(key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("media: delete %s: %w", key, err)
	}
	return nil
}

// path is where key is stored: dir/ab/cd/<key>.
func (f *FS) path(key string) string {
	return filepath.Join(f.dir, key[0:2], key[2:4], key)
}

// validKey reports whether key is 64 lower-case hex digits, the only names
// Open and Delete turn into paths.
func validKey(key string) bool {
	if len(key) != sha256.Size*2 {
		return false
	}
	for _, c := range []byte(key) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
