package upstream

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mosnctl/mosnctl/internal/config"
)

// hostSet is hosts and a load balancer over them: a whole cluster, or one
// subset of it.
type hostSet struct {
	hosts []*Host
	lb    LoadBalancer
}

// subset is the hosts whose "mosn.lb" labels have the given values for one
// selector's keys.
type subset struct {
	labels []config.Label // sorted by key
	set    hostSet
}

// buildSubsets groups the hosts by lb_subset_config's selectors, once per
// cluster build: a request then finds its subset by comparing labels, with
// no allocation.
func (c *Cluster) buildSubsets(cfg *config.Cluster) error {
	sc := cfg.LBSubsetConfig
	if sc == nil {
		return nil
	}
	labels := make([]map[string]string, len(c.Hosts))
	for i := range cfg.Hosts {
		ls, err := config.HostLabels(cfg.Hosts[i].Metadata)
		if err != nil {
			return fmt.Errorf("hosts[%d].metadata.%w", i, err)
		}
		labels[i] = ls
	}
	seen := map[string]bool{}
	for _, sel := range sc.SubsetSelectors {
		keys := append([]string(nil), sel...)
		sort.Strings(keys)
		groups := map[string]*subset{}
		var order []string
		for i, h := range c.Hosts {
			vals := make([]config.Label, 0, len(keys))
			for _, k := range keys {
				v, ok := labels[i][k]
				if !ok {
					break
				}
				vals = append(vals, config.Label{Key: k, Value: v})
			}
			if len(vals) < len(keys) {
				continue // the host lacks one of the keys
			}
			id := labelsID(vals)
			g := groups[id]
			if g == nil {
				if seen[id] {
					continue // two selectors with the same keys
				}
				g = &subset{labels: vals}
				groups[id] = g
				order = append(order, id)
			}
			g.set.hosts = append(g.set.hosts, h)
		}
		for _, id := range order {
			seen[id] = true
			g := groups[id]
			lb, err := NewLoadBalancer(c.LBType, g.set.hosts)
			if err != nil {
				return fmt.Errorf("lb_type: %w", err)
			}
			g.set.lb = lb
			c.subsets = append(c.subsets, *g)
		}
	}
	switch sc.FallBackPolicy {
	case config.FallbackAnyEndpoint:
		c.fallback = &c.all
	case config.FallbackDefaultSubset:
		set := &hostSet{}
		for i, h := range c.Hosts {
			if hasLabels(labels[i], sc.DefaultSubset) {
				set.hosts = append(set.hosts, h)
			}
		}
		lb, err := NewLoadBalancer(c.LBType, set.hosts)
		if err != nil {
			return fmt.Errorf("lb_type: %w", err)
		}
		set.lb = lb
		c.fallback = set
	}
	if c.subsets == nil {
		c.subsets = []subset{} // subsetting is on even when no host has the labels
	}
	return nil
}

func labelsID(ls []config.Label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Key)
		b.WriteByte(0)
		b.WriteString(l.Value)
		b.WriteByte(0)
	}
	return b.String()
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// hostSet returns the hosts a request with the route's metadata match
// (sorted labels) may go to: every host without lb_subset_config; else the
// subset whose labels are exactly the match, or the fallback when no subset
// is (or the request has no match, as in Envoy); nil for no host at all.
func (c *Cluster) hostSet(match []config.Label) *hostSet {
	if c.subsets == nil {
		return &c.all
	}
	if len(match) > 0 {
	next:
		for i := range c.subsets {
			s := &c.subsets[i]
			if len(s.labels) != len(match) {
				continue
			}
			for j := range match {
				if s.labels[j] != match[j] {
					continue next
				}
			}
			return &s.set
		}
	}
	return c.fallback
}

// Pick picks a host for a request with the route's metadata match, as the
// first try of Tries does. ctx may be nil.
func (c *Cluster) Pick(match []config.Label, ctx *PickContext) *Host {
	set := c.hostSet(match)
	if set == nil {
		return nil
	}
	return pickFrom(set.lb, ctx)
}
