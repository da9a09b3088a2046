"""What every Sportsflow process stands on: settings, Kafka and AWS clients, backoff, observability."""
