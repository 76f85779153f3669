package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// mode is how the engine reaches Redis.
type mode int

const (
	standalone mode = iota // one server: redis://, rediss://
	sentinel               // a master found through sentinels: redis+sentinel://
	cluster                // Redis Cluster: redis+cluster://
)

// endpoint is Config.URL read for a Sentinel or Cluster deployment (a
// standalone URL is read by goredis.ParseURL).
type endpoint struct {
	mode               mode
	addrs              []string // sentinels, or the cluster's seed nodes
	username, password string   // for the data servers
	master             string   // sentinel: the master's name
	db                 int      // sentinel: the database
	tls                bool

	sentinelUser, sentinelPassword string // sentinel: for the sentinels themselves
}

// ValidateURL reports whether url is a HERALD_REDIS_URL the engine can use
// (docs/protocol.md section 12), without connecting.
func ValidateURL(url string) error {
	_, err := parseURL(url)
	return err
}

// parsedURL is Config.URL read: the options of one of the three clients.
type parsedURL struct {
	mode     mode
	single   *goredis.Options
	failover *goredis.FailoverOptions
	cluster  *goredis.ClusterOptions
}

// parseURL reads Config.URL in any of its forms.
func parseURL(raw string) (parsedURL, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	switch scheme {
	case "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
		ep, err := parseEndpoint(raw)
		if err != nil {
			return parsedURL{}, err
		}
		return ep.options(), nil
	case "redis", "rediss":
		opts, err := goredis.ParseURL(raw)
		if err != nil {
			return parsedURL{}, err
		}
		return parsedURL{mode: standalone, single: opts}, nil
	}
	return parsedURL{}, fmt.Errorf("scheme %q: want redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster", scheme)
}

// parseEndpoint reads
//
//	redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER_NAME[/db][?sentinel_username=u&sentinel_password=p]
//	redis+cluster://[[user]:password@]host:port[,host:port...]
//
// and their rediss+ forms, which speak TLS to every server. net/url would
// take the comma-separated hosts as one, so the authority is split here.
func parseEndpoint(raw string) (endpoint, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	ep := endpoint{mode: cluster, tls: strings.HasPrefix(scheme, "rediss+")}
	if strings.HasSuffix(scheme, "+sentinel") {
		ep.mode = sentinel
	}
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if err := ep.setUser(authority[:at]); err != nil {
			return ep, err
		}
		authority = authority[at+1:]
	}
	for _, a := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return ep, fmt.Errorf("address %q: want host:port", a)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return ep, fmt.Errorf("address %q: bad port", a)
		}
		ep.addrs = append(ep.addrs, net.JoinHostPort(host, port))
	}
	if err := ep.setPath(path); err != nil {
		return ep, err
	}
	return ep, ep.setQuery(query)
}

func (ep *endpoint) setUser(userinfo string) error {
	user, pass, _ := strings.Cut(userinfo, ":")
	var err1, err2 error
	ep.username, err1 = url.PathUnescape(user)
	ep.password, err2 = url.PathUnescape(pass)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("user or password: %w", err)
	}
	return nil
}

// setPath reads MASTER_NAME[/db] for Sentinel; Cluster has one database
// and takes no path.
func (ep *endpoint) setPath(path string) error {
	path = strings.TrimSuffix(path, "/")
	if ep.mode == cluster {
		if path != "" {
			return fmt.Errorf("path %q: Redis Cluster has no database or master name to give", path)
		}
		return nil
	}
	master, db, hasDB := strings.Cut(path, "/")
	if master == "" {
		return errors.New("no master name: want redis+sentinel://host:port,.../MASTER_NAME[/db]")
	}
	ep.master = master
	if hasDB {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return fmt.Errorf("database %q: want a number", db)
		}
		ep.db = n
	}
	return nil
}

// setQuery reads the sentinels' own credentials, the only options these
// forms take: sentinels often have no password while the data servers do.
func (ep *endpoint) setQuery(query string) error {
	if query == "" {
		return nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	for name, vs := range q {
		switch {
		case ep.mode == sentinel && name == "sentinel_username":
			ep.sentinelUser = vs[len(vs)-1]
		case ep.mode == sentinel && name == "sentinel_password":
			ep.sentinelPassword = vs[len(vs)-1]
		default:
			return fmt.Errorf("unknown option %q", name)
		}
	}
	return nil
}

// options builds the go-redis options of ep.
func (ep endpoint) options() parsedURL {
	var tc *tls.Config
	if ep.tls {
		// No ServerName: crypto/tls checks each server against the host
		// it was dialled by, as there are several.
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if ep.mode == sentinel {
		sentinelPassword := ep.sentinelPassword
		if ep.sentinelUser == "" && sentinelPassword == "" && ep.username == "" {
			// redis+sentinel://:password@... names one password: sentinels
			// that ask for one get it. One that asks for none takes it too,
			// as go-redis sends it with HELLO as the default user's, which
			// a server without a password accepts (Redis 6 or later).
			sentinelPassword = ep.password
		}
		return parsedURL{mode: sentinel, failover: &goredis.FailoverOptions{
			MasterName: ep.master, SentinelAddrs: ep.addrs,
			SentinelUsername: ep.sentinelUser, SentinelPassword: sentinelPassword,
			Username: ep.username, Password: ep.password, DB: ep.db, TLSConfig: tc,
		}}
	}
	return parsedURL{mode: cluster, cluster: &goredis.ClusterOptions{
		Addrs: ep.addrs, Username: ep.username, Password: ep.password, TLSConfig: tc,
	}}
}
