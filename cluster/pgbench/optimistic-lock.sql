-- Reserve with optimistic locking: read the version, then update only if it has not changed; a
-- buyer who lost the race has failed this attempt (no retry: pgbench counts attempts, the orders
-- table counts successes).
\set user random(1, 1000000000)
BEGIN;
SELECT version AS seen FROM bench_inventory WHERE sku = 'hot' \gset
WITH taken AS (
  UPDATE bench_inventory SET stock = stock - 1, version = version + 1
  WHERE sku = 'hot' AND version = :seen AND stock >= 1 RETURNING sku
)
INSERT INTO bench_orders (sku, user_id) SELECT sku, 'u' || :user FROM taken;
COMMIT;
