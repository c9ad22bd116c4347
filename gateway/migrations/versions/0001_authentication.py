"""Users, refresh token families, signing keys and API keys.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            username      text NOT NULL
                          CHECK (username ~ '^[A-Za-z0-9_.@-]{3,64}$'),
            password_hash text NOT NULL,
            role          text NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
            disabled      boolean NOT NULL DEFAULT false,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        -- Usernames are unique whatever their case; login looks them up the same way.
        CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
        CREATE INDEX users_role_idx ON users (role);

        -- One family per login; every refresh token it hands out belongs to it,
        -- so reuse of a spent token can revoke them all at once.
        CREATE TABLE refresh_token_families (
            id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at     timestamptz NOT NULL DEFAULT now(),
            revoked_at     timestamptz,
            revoked_reason text
        );
        CREATE INDEX refresh_token_families_live_user_idx
            ON refresh_token_families (user_id) WHERE revoked_at IS NULL;

        -- Only the SHA-256 of a refresh token is kept, never the token.
        CREATE TABLE refresh_tokens (
            token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
            family_id  uuid NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
            issued_at  timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            spent_at   timestamptz
        );
        CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

        CREATE TABLE signing_keys (
            kid             text PRIMARY KEY,
            -- PKCS#8 PEM, encrypted with JWT_KEY_PASSPHRASE.
            private_key_pem text NOT NULL,
            public_jwk      jsonb NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            activates_at    timestamptz NOT NULL,
            retires_at      timestamptz,
            CHECK (retires_at IS NULL OR retires_at > activates_at)
        );
        CREATE INDEX signing_keys_activates_idx ON signing_keys (activates_at DESC);

        CREATE TABLE api_keys (
            id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name         text NOT NULL,
            -- The public part of the key (clt_<prefix>_<secret>), for lookup.
            prefix       text NOT NULL UNIQUE,
            -- SHA-256 of the secret part; the key itself is never stored.
            secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
            scopes       text[] NOT NULL,
            created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            expires_at   timestamptz,
            revoked_at   timestamptz,
            last_used_at timestamptz
        );
        CREATE INDEX api_keys_created_idx ON api_keys (created_at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE api_keys;
        DROP TABLE signing_keys;
        DROP TABLE refresh_tokens;
        DROP TABLE refresh_token_families;
        DROP TABLE users;
        """
    )
