"""The Microsoft Teams adapter: botbuilder's CloudAdapter does the Bot Framework protocol and auth."""
