-- wrk script: POST the same body (a fingerprint or an audio file) with an API key.
-- BODY_FILE, BODY_TYPE and API_KEY come from the environment (see run.sh).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BODY_TYPE")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")
