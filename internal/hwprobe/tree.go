package hwprobe

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// maxFileSize bounds every read: the files we want are a few KiB (cpuinfo of
// a large host is a few hundred), and a bound keeps a hostile --root tree
// (a FIFO, a huge file) from stalling or exhausting the probe.
const maxFileSize = 4 << 20

// maxLinkHops bounds symlink chains, as the kernel does with ELOOP.
const maxLinkHops = 40

var errLinkLoop = errors.New("too many levels of symbolic links")

// tree reads files from a host tree rooted at root, always through paths
// written as on the live host ("/sys/class/net"). Symlinks are followed by
// hand so that an absolute or "../" link cannot leave root, and so that every
// link crossed can be recreated in the capture directory: a capture is a
// tree with the same physical layout that reads back to the same report.
type tree struct {
	root       string            // host directory standing for "/"
	capture    string            // "" when not capturing
	captureErr error             // first error while writing the capture
	dirs       map[string]string // resolved directories: logical path without leading "/" -> physical
	// failed holds reads that failed for a reason other than absence. When
	// capturing they are recorded and saved in failuresFile, since an
	// unreadable file cannot be copied; when reading a capture they are
	// loaded from it and replayed, so the notes come out the same.
	failed map[string]readFailure
}

// failuresFile, at the top of a capture, lists the reads that failed: one
// "path<TAB>errno<TAB>message" line each (errno 0 when there was none).
const failuresFile = ".hwprobe-unreadable"

type readFailure struct {
	errno syscall.Errno
	msg   string
}

func (f readFailure) err(p string) error {
	if f.errno != 0 {
		return &fs.PathError{Op: "read", Path: p, Err: f.errno}
	}
	return &fs.PathError{Op: "read", Path: p, Err: errors.New(f.msg)}
}

// failure returns the replayed error for p, if the capture recorded one.
func (t *tree) failure(p string) error {
	if f, ok := t.failed[p]; ok {
		return f.err(p)
	}
	return nil
}

// recordFailure remembers a failed read of p while capturing.
func (t *tree) recordFailure(p string, err error) {
	if t.capture == "" || errors.Is(err, fs.ErrNotExist) {
		return
	}
	f := readFailure{msg: err.Error()}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		f.msg = pe.Err.Error()
	}
	if !errors.As(err, &f.errno) {
		f.errno = 0
	}
	if t.failed == nil {
		t.failed = map[string]readFailure{}
	}
	t.failed[p] = f
}

// loadFailures reads the failures a capture recorded; a tree that is not a
// capture has none.
func (t *tree) loadFailures() {
	b, err := os.ReadFile(filepath.Join(t.root, failuresFile))
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			continue
		}
		if t.failed == nil {
			t.failed = map[string]readFailure{}
		}
		t.failed[f[0]] = readFailure{errno: syscall.Errno(n), msg: f[2]}
	}
}

// saveFailures writes the recorded failures into the capture.
func (t *tree) saveFailures() {
	if t.capture == "" || len(t.failed) == 0 || t.captureErr != nil {
		return
	}
	lines := make([]string, 0, len(t.failed))
	for p, f := range t.failed {
		lines = append(lines, fmt.Sprintf("%s\t%d\t%s\n", p, int(f.errno), strings.ReplaceAll(f.msg, "\n", " ")))
	}
	sort.Strings(lines)
	if err := os.WriteFile(filepath.Join(t.capture, failuresFile), []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.captureErr = err
	}
}

func (t *tree) host(p string) string { return filepath.Join(t.root, filepath.FromSlash(p)) }

// resolve returns the physical path of p inside the tree (absolute, slash
// separated, relative to root) after following every symlink on the way.
// When capturing it recreates each link crossed and materialises the final
// entry (a directory, or an empty placeholder file that a later read fills).
//
// Directories already resolved are remembered (a probe reads many files
// under the same /sys/bus/pci/devices/X), which saves most Lstat calls.
func (t *tree) resolve(p string) (string, error) {
	orig := splitPath(path.Clean("/" + p))[1:]
	if len(orig) == 1 && orig[0] == "" {
		orig = nil
	}
	cur, todo := "/", orig
	for k := len(orig) - 1; k > 0; k-- {
		if phys, ok := t.dirs[strings.Join(orig[:k], "/")]; ok {
			cur, todo = phys, orig[k:]
			break
		}
	}
	hops, pending := 0, 0 // pending: components of link targets not yet consumed
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		if pending > 0 {
			pending--
		}
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, comp)
		fi, err := os.Lstat(t.host(next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			if pending == 0 && fi.IsDir() && len(todo) > 0 {
				if t.dirs == nil {
					t.dirs = map[string]string{}
				}
				t.dirs[strings.Join(orig[:len(orig)-len(todo)], "/")] = cur
			}
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", errLinkLoop
		}
		target, err := os.Readlink(t.host(next))
		if err != nil {
			return "", err
		}
		t.captureLink(cur, comp, target)
		if path.IsAbs(target) {
			cur = "/"
		}
		tcomps := splitPath(target)
		pending += len(tcomps)
		todo = append(tcomps, todo...)
	}
	t.captureEntry(cur)
	return cur, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// readFile returns the content of p, at most maxFileSize bytes.
func (t *tree) readFile(p string) ([]byte, error) {
	b, err := []byte(nil), t.failure(p)
	if err == nil {
		b, err = t.readFileNoRecord(p)
	}
	if err != nil {
		t.recordFailure(p, err)
	}
	return b, err
}

func (t *tree) readFileNoRecord(p string) ([]byte, error) {
	phys, err := t.resolve(p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer forever; regular files ignore the flag.
	f, err := os.OpenFile(t.host(phys), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, syscall.EISDIR
	}
	if !fi.Mode().IsRegular() {
		// Device nodes and FIFOs can block or never end; nothing we read
		// lives there.
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return nil, err
	}
	t.captureFile(phys, b)
	return b, nil
}

// listDir returns the names in directory p that keep accepts (all when keep
// is nil), sorted.
func (t *tree) listDir(p string, keep func(string) bool) ([]string, error) {
	if err := t.failure(p); err != nil {
		t.recordFailure(p, err)
		return nil, err
	}
	phys, err := t.resolve(p)
	if err != nil {
		t.recordFailure(p, err)
		return nil, err
	}
	ents, err := os.ReadDir(t.host(phys))
	if err != nil {
		t.recordFailure(p, err)
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if keep != nil && !keep(e.Name()) {
			continue
		}
		names = append(names, e.Name())
		if t.capture != "" {
			// Materialise the entry (and what a link points at) so the
			// captured listing reads back the same.
			_, _ = t.resolve(path.Join(phys, e.Name()))
		}
	}
	return names, nil
}

// linkBase resolves p and returns the last element of its physical path:
// the driver name behind ".../driver", the group behind ".../iommu_group".
func (t *tree) linkBase(p string) (string, error) {
	phys, err := "", t.failure(p)
	if err == nil {
		phys, err = t.resolve(p)
	}
	if err != nil {
		t.recordFailure(p, err)
		return "", err
	}
	return path.Base(phys), nil
}

func (t *tree) exists(p string) bool {
	_, err := t.resolve(p)
	return err == nil
}

func (t *tree) captureLink(dir, name, target string) {
	if t.capture == "" || t.captureErr != nil {
		return
	}
	hdir := filepath.Join(t.capture, filepath.FromSlash(dir))
	if err := os.MkdirAll(hdir, 0o755); err != nil {
		t.captureErr = err
		return
	}
	err := os.Symlink(target, filepath.Join(hdir, name))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		t.captureErr = err
	}
}

func (t *tree) captureEntry(phys string) {
	if t.capture == "" || t.captureErr != nil {
		return
	}
	fi, err := os.Stat(t.host(phys))
	if err != nil {
		return
	}
	h := filepath.Join(t.capture, filepath.FromSlash(phys))
	if fi.IsDir() {
		if err := os.MkdirAll(h, 0o755); err != nil {
			t.captureErr = err
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		t.captureErr = err
		return
	}
	// A placeholder keeps the name listable; O_EXCL leaves content that a
	// read already saved alone.
	f, err := os.OpenFile(h, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		err = f.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		t.captureErr = err
	}
}

func (t *tree) captureFile(phys string, b []byte) {
	if t.capture == "" || t.captureErr != nil {
		return
	}
	h := filepath.Join(t.capture, filepath.FromSlash(phys))
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		t.captureErr = err
		return
	}
	if err := os.WriteFile(h, b, 0o644); err != nil {
		t.captureErr = err
	}
}

// problem turns a read error into the words a note uses. The host path is
// left out on purpose: notes then read the same for a live host, a --root
// tree and a golden file.
func problem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	case errors.Is(err, fs.ErrPermission):
		return "unreadable: permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "unreadable: " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return "unreadable: " + le.Err.Error()
	}
	return "unreadable: " + err.Error()
}
