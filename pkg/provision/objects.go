package provision

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/oc-sts/oc-sts/pkg/oidckeys"
	"github.com/oc-sts/oc-sts/pkg/plan"
)

// The discovery documents in the issuer bucket: listed with the bucket
// (their ETags), compared by content, uploaded once the bucket exists.

var (
	s3PutObject     = declare(ObjectResource, "PutObject", "s3:PutObject")
	s3DeleteObjects = declare(ObjectResource, "DeleteObjects", "s3:DeleteObject")
	s3GetObject     = reads("GetObject", "s3:GetObject")
)

// objectDelta is an object change: the plan's document and the ETag found.
type objectDelta struct {
	want *plan.Object
	etag string
}

// diffObjects are the documents missing or different. A body the plan does
// not know yet (the discovery document of an issuer known after apply) is
// to be written.
func diffObjects(p *plan.Plan, o *Observed) []Change {
	var changes []Change
	for i := range p.Bucket.Objects {
		obj := &p.Bucket.Objects[i]
		etag, ok := o.Bucket.Objects[obj.Key]
		d := &objectDelta{want: obj, etag: etag}
		switch {
		case !ok:
			changes = append(changes, Change{Resource: ObjectResource, Name: obj.Key, Action: Create, delta: d})
		case obj.Body == nil || etag != ContentMD5(obj.Body):
			changes = append(changes, Change{Resource: ObjectResource, Name: obj.Key, Action: Update, Fields: []string{FieldContent}, delta: d})
		}
	}
	return changes
}

// steps: an upload waits only for the bucket.
func (d *objectDelta) steps(a *applier, ch *Change) {
	c, bucket, obj := a.c, a.plan.Bucket.Name, d.want
	a.g.call(s3PutObject, func(ctx context.Context) error {
		a.progress("uploading s3://%s/%s", bucket, obj.Key)
		_, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &obj.Key, ExpectedBucketOwner: c.expectedOwner(), Body: bytes.NewReader(obj.Body), ContentType: &obj.ContentType})
		return stepError("uploading s3://"+bucket+"/"+obj.Key, err)
	}, a.bucket, a.first).then(a.made.add(ch))
}

// ContentMD5 is the ETag S3 gives a single-part upload of body.
func ContentMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// maxJWKS bounds the published keys.json read (a JWKS of a few keys is a few KB).
const maxJWKS = 1 << 20

// publishedJWKS reads the bucket's keys.json when it is not the plan's.
func publishedJWKS(ctx context.Context, c *Clients, p *plan.Plan, b BucketState) ([]byte, error) {
	etag, ok := b.Objects[oidckeys.JWKSPath]
	if !ok || b.Foreign || b.InOtherRegion {
		return nil, nil
	}
	for _, obj := range p.Bucket.Objects {
		if obj.Key == oidckeys.JWKSPath && etag == ContentMD5(obj.Body) {
			return nil, nil
		}
	}
	what := "s3://" + p.Bucket.Name + "/" + oidckeys.JWKSPath
	out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &p.Bucket.Name, Key: aws.String(oidckeys.JWKSPath), ExpectedBucketOwner: c.expectedOwner()})
	if err != nil {
		return nil, readError(what, "s3:GetObject", err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxJWKS+1))
	if err != nil {
		return nil, readError(what, "s3:GetObject", err)
	}
	if len(body) > maxJWKS {
		return nil, fmt.Errorf("%s is over %d bytes: it is no JWKS oc sts wrote", what, maxJWKS)
	}
	return body, nil
}

// DroppedKeys are the keys (by kid) the bucket's published JWKS holds and
// the plan's does not: replacing it makes AWS reject every token they
// signed. It is nil when the plan keeps every published key.
func DroppedKeys(p *plan.Plan, o *Observed) ([]string, error) {
	if o.Bucket.PublishedJWKS == nil {
		return nil, nil
	}
	type jwks struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	var published, planned jwks
	if err := json.Unmarshal(o.Bucket.PublishedJWKS, &published); err != nil {
		return []string{"(unreadable: " + err.Error() + ")"}, nil
	}
	for _, obj := range p.Bucket.Objects {
		if obj.Key == oidckeys.JWKSPath {
			if err := json.Unmarshal(obj.Body, &planned); err != nil {
				return nil, err
			}
		}
	}
	var dropped []string
	for _, k := range published.Keys {
		if !slices.Contains(planned.Keys, k) {
			dropped = append(dropped, cmp.Or(k.Kid, "(no kid)"))
		}
	}
	return dropped, nil
}
