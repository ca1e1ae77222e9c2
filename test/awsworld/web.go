package awsworld

import (
	"net"
	"net/http"
	"regexp"
	"strings"
)

// The gate's "internet": the hosts an OIDC issuer lives on, answered as an
// anonymous caller gets them from AWS.
var (
	// bucket.s3.region.amazonaws.com[.cn], bucket.s3.amazonaws.com, bucket.s3-region.amazonaws.com
	virtualHostRE = regexp.MustCompile(`^(.+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$`)
	// s3.region.amazonaws.com[.cn]/bucket/key
	pathStyleRE  = regexp.MustCompile(`^s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$`)
	cloudFrontRE = regexp.MustCompile(`^[a-z0-9]+\.cloudfront\.(net|cn)$`)
)

// webHost reports whether the gate serves host on its HTTPS proxy.
func webHost(host string) bool {
	return virtualHostRE.MatchString(host) || pathStyleRE.MatchString(host) || cloudFrontRE.MatchString(host)
}

// web answers a request for an issuer host as AWS's public endpoints do.
func (g *Gate) web(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	var bucket, key, label, cn string
	switch {
	case cloudFrontRE.MatchString(host):
		g.cloudFrontServe(w, r, host, path)
		return
	case virtualHostRE.MatchString(host):
		m := virtualHostRE.FindStringSubmatch(host)
		bucket, key, label, cn = m[1], path, m[2], m[3]
	case pathStyleRE.MatchString(host):
		m := pathStyleRE.FindStringSubmatch(host)
		bucket, key, _ = strings.Cut(path, "/")
		label, cn = m[1], m[2]
	default:
		http.Error(w, "the test world has no route to "+host, http.StatusBadGateway)
		return
	}
	g.anonymousS3(w, toMoto(r, bucket, key), hostRegion(label, cn), bucket, key, label != "")
}

// hostRegion is the region an S3 host names (".us-west-2", "-us-west-2"), or
// its partition's home region when it names none.
func hostRegion(label, cn string) string {
	if region := strings.TrimLeft(label, ".-"); region != "" {
		return region
	}
	if cn != "" {
		return homeRegion("aws-cn")
	}
	return "us-east-1"
}

// toMoto turns a request for an S3 host into a path-style one for moto.
func toMoto(r *http.Request, bucket, key string) *http.Request {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", "", ""
	out.URL.Path = "/" + bucket
	if key != "" {
		out.URL.Path += "/" + key
	}
	out.URL.RawPath = ""
	out.Header.Del("Authorization")
	out.RequestURI = ""
	return out
}
