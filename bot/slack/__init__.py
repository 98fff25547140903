"""The Slack adapter: Bolt (AsyncApp) does the protocol; this package translates to and from handlers."""
