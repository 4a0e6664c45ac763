module github.com/textback/textback

go 1.26.8

require (
	github.com/CyCoreSystems/ari/v5 v5.3.1
	github.com/gorilla/websocket v1.5.3
	github.com/inconshreveable/log15 v0.0.0-20201112154412-8562bdadbbac
	github.com/nyaruka/phonenumbers v1.8.1
	github.com/percipia/eslgo v1.5.0
	github.com/rs/zerolog v1.35.1
	github.com/warthog618/modem v0.4.0
	github.com/warthog618/sms v0.3.0
	go.etcd.io/bbolt v1.5.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
	golang.org/x/text v0.23.0
)

require (
	github.com/go-stack/stack v1.8.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/rotisserie/eris v0.4.1 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
