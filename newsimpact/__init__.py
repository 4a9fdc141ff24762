"""newsimpact: what did the news do to the stock? A batch warehouse of news event studies."""
