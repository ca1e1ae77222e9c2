package awsworld

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CloudFront's edge cache, which moto does not have: a distribution keeps
// each object it fetched from its origin for the cache policy's TTL (the
// managed CachingOptimized policy oc sts uses: the origin's Cache-Control
// max-age between 1 s and a year, else a day), so a changed object is
// served stale until then, or until an invalidation of its path completes.
// An invalidation is InProgress for the invalidation delay, then Completed
// (moto answers COMPLETED at once, in its own spelling). Not modelled:
// caching of error answers (CloudFront keeps them 10 s), several edges,
// an invalidation batch's caller reference answering the earlier batch.

type cloudFrontCache struct {
	mu            sync.Mutex
	entries       map[string]cacheEntry // distribution id + path
	invalidations map[string]invalidation
	ttl           time.Duration // when the origin says nothing
	delay         time.Duration // how long an invalidation takes
}

type cacheEntry struct {
	status  int
	header  http.Header
	body    []byte
	fetched time.Time
	maxAge  time.Duration
}

type invalidation struct {
	distribution string
	paths        []string
	created      time.Time
}

func newCloudFrontCache() cloudFrontCache {
	return cloudFrontCache{entries: map[string]cacheEntry{}, invalidations: map[string]invalidation{}, ttl: 24 * time.Hour, delay: time.Second}
}

func (c *cloudFrontCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries, c.invalidations = map[string]cacheEntry{}, map[string]invalidation{}
}

// SetCloudFrontCache sets how long objects are cached when their origin
// sets no max-age (default a day) and how long an invalidation takes
// (default a second).
func (g *Gate) SetCloudFrontCache(ttl, invalidationDelay time.Duration) {
	g.cf.mu.Lock()
	defer g.cf.mu.Unlock()
	g.cf.ttl, g.cf.delay = ttl, invalidationDelay
}

// cached answers from the cache when it holds a fresh copy of path.
func (c *cloudFrontCache) cached(w http.ResponseWriter, distribution, path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[distribution+"/"+path]
	if !ok || time.Since(e.fetched) >= e.maxAge || c.invalidatedLocked(distribution, path, e.fetched) {
		delete(c.entries, distribution+"/"+path)
		return false
	}
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	w.Header().Set("X-Cache", "Hit from cloudfront")
	w.Header().Set("Age", strconv.Itoa(int(time.Since(e.fetched).Seconds())))
	w.WriteHeader(e.status)
	w.Write(e.body)
	return true
}

// invalidatedLocked: an invalidation of path completed after it was fetched.
func (c *cloudFrontCache) invalidatedLocked(distribution, path string, fetched time.Time) bool {
	for _, inv := range c.invalidations {
		done := inv.created.Add(c.delay)
		if inv.distribution != distribution || time.Now().Before(done) || !done.After(fetched) {
			continue
		}
		for _, p := range inv.paths {
			if p == "/"+path || strings.HasSuffix(p, "*") && strings.HasPrefix("/"+path, strings.TrimSuffix(p, "*")) {
				return true
			}
		}
	}
	return false
}

// fetch serves path from the origin (origin writes the answer) and keeps a
// successful answer for its TTL.
func (c *cloudFrontCache) fetch(w http.ResponseWriter, distribution, path string, origin func(http.ResponseWriter)) {
	rec := httptest.NewRecorder()
	origin(rec)
	res := rec.Result()
	body := rec.Body.Bytes()
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("X-Cache", "Miss from cloudfront")
	w.WriteHeader(res.StatusCode)
	w.Write(body)
	if res.StatusCode != http.StatusOK {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[distribution+"/"+path] = cacheEntry{status: res.StatusCode, header: res.Header.Clone(), body: bytes.Clone(body), fetched: time.Now(), maxAge: c.maxAge(res.Header)}
}

var maxAgeRE = regexp.MustCompile(`max-age=(\d+)`)

// maxAge is CachingOptimized's TTL for an origin answer.
func (c *cloudFrontCache) maxAge(h http.Header) time.Duration {
	m := maxAgeRE.FindStringSubmatch(h.Get("Cache-Control"))
	if m == nil {
		return c.ttl
	}
	s, _ := strconv.Atoi(m[1])
	return min(max(time.Duration(s)*time.Second, time.Second), 365*24*time.Hour)
}

var invalidationPathRE = regexp.MustCompile(`^/[0-9-]+/distribution/([A-Z0-9]+)/invalidation(?:/([A-Z0-9]+))?$`)

// afterInvalidation records a created invalidation and answers its status
// as CloudFront does; false when the call is not about invalidations.
func (g *Gate) afterInvalidation(resp *http.Response, reqBody, body []byte) ([]byte, bool) {
	m := invalidationPathRE.FindStringSubmatch(resp.Request.URL.Path)
	if m == nil {
		return body, false
	}
	c := &g.cf
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.Request.Method == http.MethodPost {
		var batch struct {
			Paths []string `xml:"Paths>Items>Path"`
		}
		xml.Unmarshal(reqBody, &batch)
		if id := idRE.FindSubmatch(body); id != nil {
			c.invalidations[string(id[1])] = invalidation{distribution: m[1], paths: batch.Paths, created: time.Now()}
		}
	}
	return invalidationRE.ReplaceAllFunc(body, func(b []byte) []byte {
		status := "Completed"
		if id := idRE.FindSubmatch(b); id != nil {
			if inv, ok := c.invalidations[string(id[1])]; ok && time.Since(inv.created) < c.delay {
				status = "InProgress"
			}
		}
		return statusElemRE.ReplaceAll(b, []byte("<Status>"+status+"</Status>"))
	}), true
}

var (
	// An invalidation, or its summary in a list ("</InvalidationBatch>" does not end one).
	invalidationRE = regexp.MustCompile(`(?s)<(?:Invalidation|InvalidationSummary)(?:\s[^>]*)?>.*?</(?:Invalidation|InvalidationSummary)>`)
	statusElemRE   = regexp.MustCompile(`<Status>[A-Za-z]+</Status>`)
)

// ForgetCloudFrontCache empties the edge caches, as for a test putting AWS
// back as it was: the next fetch reads the origin.
func (g *Gate) ForgetCloudFrontCache() { g.cf.reset() }
