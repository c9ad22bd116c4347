"""What tests share: databases, processes, tokens, clocks, misbehaving upstreams."""
