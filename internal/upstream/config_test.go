package upstream

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mosnctl/mosnctl/internal/config"
)

// TestLoadedConfigsBuild builds the cluster manager of every config the
// config package loads: whatever config.Load accepts must build here too.
func TestLoadedConfigsBuild(t *testing.T) {
	cfgs := map[string]*config.Config{"default": config.Default()}
	files := []string{"../config/testdata/full.json"}
	const mosnDir = "../../../shared/mosn-configs"
	if samples, _ := filepath.Glob(filepath.Join(mosnDir, "*", "*.json")); len(samples) > 0 {
		files = append(files, samples...)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		cfg, _, err := config.Load(f)
		if err != nil {
			continue // refused by the loader
		}
		cfgs[f] = cfg
	}
	t.Logf("%d loaded configs", len(cfgs))
	for name, cfg := range cfgs {
		m, err := NewManager(cfg.ClusterManager.Clusters)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, c := range m.Clusters() {
			if len(c.Hosts) > 0 && c.LB.Pick(PickContext{}) == nil {
				t.Errorf("%s: cluster %s picked no host", name, c.Name)
			}
		}
	}
}
