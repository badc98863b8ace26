package server

import (
	"net/http"
)

// refuseEncodedBodies answers 415 to a request whose body is compressed
// (Content-Encoding other than identity). Sluice never decompresses a
// request body, so a gzip bomb cannot expand inside the server; clients
// send bodies as they are, bounded by the body limits.
func refuseEncodedBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ce, ok := r.Header["Content-Encoding"]; ok && !(len(ce) == 1 && (ce[0] == "" || ce[0] == "identity")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnsupportedMediaType)
			_, _ = w.Write([]byte(`{"error":{"code":"invalid_argument","message":"Content-Encoding: compressed request bodies are not accepted; send the body uncompressed"}}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
