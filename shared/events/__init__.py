"""Customer events: the envelope and its schema, the confirming publisher, the consumer.

The customer service writes each change to its outbox; its relay publishes
the rows with :mod:`shared.events.publisher`; every consuming service reads its
own durable queue with :mod:`shared.events.consumer`. What an event looks like
is :mod:`shared.events.envelope` and ``customer-event.schema.json`` beside it.
"""
