-- page views, typed columns: one SELECT over a log range ($1, $2: first and last seq, inclusive)
SELECT seq,
       payload->>'id'                      AS view_id,
       event_time,
       (payload->>'user_id')::bigint       AS user_id,
       payload->>'page'                    AS page,
       payload->>'country'                 AS country,
       payload->>'device'                  AS device,
       (payload->>'duration_ms')::bigint   AS duration_ms,
       (payload->>'converted')::boolean    AS converted,
       (payload->>'revenue')::numeric(12,2) AS revenue
FROM sluice.raw_events
WHERE source = 'page_views' AND seq BETWEEN $1 AND $2
