package awsworld

import (
	"fmt"
	"net/http"
	"strings"
)

// S3 beyond moto's single account and region-blind buckets
// (TestMotoS3Gaps shows each gap):
//   - bucket names are global: a name another account owns cannot be
//     created (BucketAlreadyExists) and is AccessDenied to every call;
//   - a request may name the account it expects to own the bucket
//     (x-amz-expected-bucket-owner): another owner is AccessDenied;
//   - a bucket lives in one region: a request signed for another is
//     answered 301 PermanentRedirect (x-amz-bucket-region) as a regional
//     endpoint does, or 400 AuthorizationHeaderMalformed naming the
//     region as the global endpoint s3.amazonaws.com does; an anonymous
//     request to another region's endpoint is redirected too.

const (
	expectedOwnerHeader = "x-amz-expected-bucket-owner"
	s3ControlPrefix     = "/v20180820/"
)

type s3World struct {
	foreign        map[string]string // bucket -> the other account that owns it
	globalEndpoint bool
}

func newS3World() s3World { return s3World{foreign: map[string]string{}} }

// ForeignBucket makes bucket a name owned by another account.
func (g *Gate) ForeignBucket(bucket, account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.s3.foreign[bucket] = account
}

// S3GlobalEndpoint makes wrong-region requests answered as the global
// endpoint does (AuthorizationHeaderMalformed) instead of a regional one
// (PermanentRedirect).
func (g *Gate) S3GlobalEndpoint(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.s3.globalEndpoint = on
}

func (g *Gate) foreignOwner(bucket string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	owner, ok := g.s3.foreign[bucket]
	return owner, ok
}

// s3Elsewhere answers, in S3's place, a signed request for a bucket of
// another account or region, or of an owner other than the one expected.
func (g *Gate) s3Elsewhere(w http.ResponseWriter, r *http.Request, call Call) bool {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" || call.Service != "s3" {
		return false
	}
	creates := r.Method == http.MethodPut && key == "" && r.URL.RawQuery == ""
	if _, ok := g.foreignOwner(bucket); ok {
		if creates {
			g.refuse(w, r, &apiError{http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."})
		} else {
			g.refuse(w, r, accessDenied)
		}
		return true
	}
	ctx := r.Context()
	region, exists, err := g.moto.in(call.Region).bucketRegion(ctx, bucket)
	if err != nil || !exists {
		return false // moto's own answer (NoSuchBucket, or the bucket created)
	}
	if want := r.Header.Get(expectedOwnerHeader); want != "" {
		if id, err := g.caller(ctx, call.Region); err == nil && id.account != want {
			g.refuse(w, r, accessDenied)
			return true
		}
	}
	if creates || region == call.Region || r.URL.Query().Has("location") { // GetBucketLocation answers from any region
		return false
	}
	g.mu.Lock()
	global := g.s3.globalEndpoint
	g.mu.Unlock()
	g.markRefused(r, wrongRegionCode(global))
	if global {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region '%s' is wrong; expecting '%s'</Message><Region>%s</Region><RequestId>gate</RequestId></Error>`, call.Region, region, region)
		return true
	}
	permanentRedirect(w, bucket, region)
	return true
}

// permanentRedirect is a regional endpoint's answer for a bucket in region.
func permanentRedirect(w http.ResponseWriter, bucket, region string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-bucket-region", region)
	w.WriteHeader(http.StatusMovedPermanently)
	host := bucket + ".s3." + region + ".amazonaws.com"
	if partitionOf(region) == "aws-cn" {
		host += ".cn"
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>%s</Endpoint><Bucket>%s</Bucket><RequestId>gate</RequestId></Error>`, host, bucket)
}

func wrongRegionCode(global bool) string {
	if global {
		return "AuthorizationHeaderMalformed"
	}
	return "PermanentRedirect"
}
