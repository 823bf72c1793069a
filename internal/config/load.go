package config

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Load reads the config file at path: YAML when its extension is .yaml or
// .yml, JSON when it is .json, otherwise whichever the content looks like.
// It decodes strictly, applies defaults and validates. warnings holds at most
// one message listing the MOSN fields the file sets that mosnctl accepts but
// does not implement yet.
func Load(path string) (cfg *Config, warnings []string, err error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	format := ""
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		format = "yaml"
	case ".json":
		format = "json"
	}
	return Parse(data, format)
}

// MaxFileSize caps a config file. MOSN configs are kilobytes; the cap only
// keeps a wrong path (a log, a disk image, /dev/zero) from being read whole
// into memory.
const MaxFileSize = 64 << 20

// ReadFile reads a config file, refusing one larger than MaxFileSize before
// reading it (a pipe or device, which has no size, is read only up to the
// cap).
func ReadFile(path string) ([]byte, error) { return readFile(path, MaxFileSize) }

func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fmt.Errorf("read config: file is %d bytes, over the %s limit for a config: check the path", st.Size(), sizeText(limit))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read config: over the %s limit for a config: check the path", sizeText(limit))
	}
	return data, nil
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Parse is Load on bytes. format is "json", "yaml" or "" to tell by the
// content. Errors are a *FieldError or errors.Join of several, sorted by path.
func Parse(data []byte, format string) (*Config, []string, error) {
	tree, err := parseTree(data, format)
	if err != nil {
		return nil, nil, err
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil, nil, &FieldError{Msg: fmt.Sprintf("config must be an object with servers and cluster_manager, got %s", jsonKind(tree))}
	}
	cfg := &Config{}
	unimplemented, errs := decodeTree(obj, cfg, "")
	if len(errs) > 0 {
		return nil, nil, joinErrors(errs)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	unimplemented = append(unimplemented, cfg.filterWarnings()...)
	return cfg, warningMessage(unimplemented), nil
}

// warningMessage folds the unimplemented field paths into one message.
func warningMessage(paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	sort.SliceStable(paths, func(i, j int) bool { return pathLess(paths[i], paths[j]) })
	return []string{"accepted but not implemented yet (ignored): " + strings.Join(paths, ", ")}
}

//go:embed default.json
var defaultJSON []byte

// Default returns the embedded default config, defaulted and validated: a
// proxy listener on 127.0.0.1:2045 forwarding to a local listener on
// 127.0.0.1:2046 that answers directly, so `mosnctl serve` works alone.
func Default() *Config {
	cfg, _, err := Parse(defaultJSON, "json")
	if err != nil {
		// default.json is compiled in and covered by tests.
		panic("config: embedded default.json is invalid: " + err.Error())
	}
	return cfg
}

// DefaultJSON returns the embedded default config file as written.
func DefaultJSON() []byte {
	return append([]byte(nil), defaultJSON...)
}
