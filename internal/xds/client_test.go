package xds

import (
	"errors"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// go-control-plane fills a missing node in from the stream's first request,
// so what goes on the wire is checked here.
func TestRequestsCarryNode(t *testing.T) {
	n := &corev3.Node{Id: "n"}
	for _, firstOnly := range []bool{false, true} {
		s := &adsStream{node: n, firstOnly: firstOnly}
		ts := &typeState{url: EndpointType, version: "3", nonce: "x", names: []string{"b", "c"}}
		first := s.build(ts, nil)
		second := s.build(ts, errors.New("bad weight"))
		if first.GetNode() != n || (second.GetNode() == nil) == !firstOnly {
			t.Errorf("firstOnly %v: nodes %v, %v", firstOnly, first.GetNode(), second.GetNode())
		}
		if second.GetVersionInfo() != "3" || second.GetResponseNonce() != "x" || len(second.GetResourceNames()) != 2 ||
			second.GetErrorDetail().GetMessage() != "bad weight" || first.GetErrorDetail() != nil {
			t.Errorf("request %v", second)
		}
	}
	wild := &typeState{url: ClusterType, wildcard: true, names: []string{"ignored"}}
	if r := (&adsStream{}).build(wild, nil); len(r.GetResourceNames()) != 0 {
		t.Errorf("wildcard request names %v", r.GetResourceNames())
	}
}
