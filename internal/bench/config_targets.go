package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The servers a run measures, as the command line names them.

func (c *Config) parseTargets(urls, publishURLs, token string) error {
	var err error
	if c.Targets, err = parseTargetList(urls, token); err != nil {
		return err
	}
	if len(c.Targets) == 0 {
		return errors.New("--url: no URL given")
	}
	if c.PublishTargets, err = parseTargetList(publishURLs, ""); err != nil {
		return fmt.Errorf("--publish-urls: %w", err)
	}
	if publishURLs == "" {
		if c.Scenario == ScenarioCluster && len(c.Targets) < 2 {
			return errors.New("cluster: --urls must list at least two nodes")
		}
		c.PublishTargets = c.Targets
		return nil
	}
	if len(c.PublishTargets) == 0 {
		return errors.New("--publish-urls: no URL given")
	}
	if c.Scenario == ScenarioCluster && len(distinctNodes(c.Targets, c.PublishTargets)) < 2 {
		return errors.New("cluster: --urls and --publish-urls must name at least two nodes together")
	}
	return nil
}

// parseTargetList reads comma-separated URLs; blanks are skipped.
func parseTargetList(urls, token string) ([]Target, error) {
	var targets []Target
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		t, err := ParseTarget(u)
		if err != nil {
			return nil, err
		}
		t.Token = token
		targets = append(targets, t)
	}
	return targets, nil
}

// distinctNodes are the host:port pairs of lists, each once.
func distinctNodes(lists ...[]Target) map[string]bool {
	nodes := make(map[string]bool)
	for _, l := range lists {
		for _, t := range l {
			nodes[t.HostPort] = true
		}
	}
	return nodes
}

func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("--server-pid: %q is not a process id", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}
