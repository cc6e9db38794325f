"""The return path: what comes back after hand-over changes who gets the next email.

verp.py signs each message's envelope sender; classify.py (pure) says what a message that
came back is; act.py changes members, suppressions and scores; process.py is the one
processor the receivers feed: receive_smtp.py (`newsletter inbound serve`), receive_imap.py
(`inbound poll`, and beat), receive_files.py (`inbound process`) and webhooks.py (Amazon SES
through SNS, Mailgun).
"""
