-- A fund record's `amount` is the change of the user's balance (available + frozen), so a
-- user's amounts add up to their balance; `frozen` is the change of the frozen credits.
-- Freezing and refunding a charge move credits between available and frozen: balance
-- unchanged. Earlier records stored those as -c and +c.
ALTER TABLE fund_records ADD COLUMN frozen BIGINT NOT NULL DEFAULT 0;
UPDATE fund_records SET frozen = -amount, amount = 0 WHERE kind IN ('FREEZE', 'REFUND');
UPDATE fund_records SET frozen = amount WHERE kind = 'DEDUCT';
