module github.com/duet-rtc/duet/protocol

go 1.26.8
