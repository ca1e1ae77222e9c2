package registry

import (
	"encoding/base64"
	"io"
	"log"
)

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
