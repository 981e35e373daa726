-- Personal API tokens share api_tokens (name `personal/<id>`); their owner's label.
ALTER TABLE api_tokens ADD COLUMN label TEXT;
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
