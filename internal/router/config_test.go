package router

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mosnctl/mosnctl/internal/config"
)

// TestLoadedConfigsCompile builds every route table of the configs the
// config package loads (the embedded default, its full testdata config and,
// when present, MOSN's own samples): whatever config.Load accepts must compile
// here too.
func TestLoadedConfigsCompile(t *testing.T) {
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
			continue // refused by the loader: nothing for the router to build
		}
		cfgs[f] = cfg
	}
	t.Logf("%d loaded configs", len(cfgs))
	for name, cfg := range cfgs {
		for si := range cfg.Servers {
			for ri := range cfg.Servers[si].Routers {
				rc := &cfg.Servers[si].Routers[ri]
				if _, err := New(rc); err != nil {
					t.Errorf("%s: servers[%d].routers[%d]: %v", name, si, ri, err)
				}
			}
		}
	}
}

// TestSOFASample routes Bolt requests with MOSN's sofarpc sample route, both
// as written and after config.ApplyDefaults rewrote its ".*" into a regex.
func TestSOFASample(t *testing.T) {
	raw := `{"router_config_name": "client_router", "virtual_hosts": [{"name": "clientHost", "domains": ["*"],
	  "routers": [{"match": {"headers": [{"name": "service", "value": ".*"}]}, "route": {"cluster_name": "clientCluster"}}]}]}`
	rewritten := `{"router_config_name": "client_router", "virtual_hosts": [{"name": "clientHost", "domains": ["*"],
	  "routers": [{"match": {"headers": [{"name": "service", "value": ".+", "regex": true}]}, "route": {"cluster_name": "clientCluster"}}]}]}`
	for _, js := range []string{raw, rewritten} {
		tbl := mustTable(t, js)
		if got := clusterOf(tbl.Match(bolt("service", "com.alipay.test.TestService:1.0"))); got != "clientCluster" {
			t.Errorf("service request: %s", got)
		}
		if got := clusterOf(tbl.Match(bolt("service", ""))); got != "<nil>" {
			t.Errorf("empty service: %s", got)
		}
		if got := clusterOf(tbl.Match(bolt())); got != "<nil>" {
			t.Errorf("no service: %s", got)
		}
		if got := clusterOf(tbl.Match(bolt("service", "a\nb"))); got != "clientCluster" && js == raw {
			t.Errorf("MOSN's fast match takes any non-empty value: %s", got)
		}
	}
}
